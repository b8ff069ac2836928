"""A nameko 2.14 service, run by the interop test in its own environment (eventlet).

It subscribes to one of our events and, on each, calls one of our RPC
methods; it also serves RPC methods we call. Nothing here imports tentenone.
"""

from nameko.events import event_handler
from nameko.rpc import RpcProxy, rpc


class NamekoPeer:
    name = "nameko-peer"

    ours = RpcProxy("tt-nk")

    @event_handler("tt-nk", "nktest.greeting")
    def on_greeting(self, payload):
        # Acknowledge through our RPC: proves both the subscription and the call.
        self.ours.record_greeting(text=payload["text"], seen_by=self.name)

    @rpc
    def multiply(self, a, b):
        return a * b

    @rpc
    def refuse(self):
        raise ValueError("nameko says no")

    @rpc
    def ask_ours(self, a, b):
        # nameko calling our typed RPC method, with keyword arguments.
        return self.ours.add(a=a, b=b)
