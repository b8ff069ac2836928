"""Exchange and queue names: nameko's conventions, so nameko services interoperate.

- events: topic exchange ``<source>.events``, routing key = event type; a
  consumer's queue is ``evt-<source>-<event_type>--<service>.<handler>``
  (nameko's SERVICE_POOL handler queue);
- RPC: topic exchange ``nameko-rpc``; a service's request queue is
  ``rpc-<service>`` bound with ``<service>.*``; the caller's reply queue is
  ``rpc.reply-<service>-<uuid>`` bound with ``<uuid>``, the request's reply_to;
- ours on top: ``<queue>.retry`` (delayed retries) and ``<queue>.dlq``.

A non-empty ``prefix`` (setting ``TENTENONE_AMQP_PREFIX``) is put in front of
every name, to share one vhost between isolated deployments; nameko peers
must then be configured with the same names, so interop wants no prefix.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RPC_EXCHANGE", "Names"]

RPC_EXCHANGE = "nameko-rpc"


@dataclass(frozen=True, slots=True)
class Names:
    prefix: str = ""

    def events_exchange(self, source: str) -> str:
        return f"{self.prefix}{source}.events"

    def rpc_exchange(self) -> str:
        return f"{self.prefix}{RPC_EXCHANGE}"

    def event_queue(self, source: str, event_type: str, service: str, handler: str) -> str:
        return f"{self.prefix}evt-{source}-{event_type}--{service}.{handler}"

    def rpc_queue(self, service: str) -> str:
        return f"{self.prefix}rpc-{service}"

    def reply_queue(self, service: str, reply_key: str) -> str:
        return f"{self.prefix}rpc.reply-{service}-{reply_key}"

    @staticmethod
    def retry_queue(queue: str) -> str:
        return f"{queue}.retry"

    @staticmethod
    def dead_letter_queue(queue: str) -> str:
        return f"{queue}.dlq"
