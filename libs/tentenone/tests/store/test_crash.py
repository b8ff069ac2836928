"""kill -9 in the middle of state changes: every committed step is whole, and work resumes.

A real worker process drives jobs through a state machine, one transaction
per step (transition + log entry + outbox event). It is SIGKILLed at an
arbitrary moment, restarted (it resumes unfinished jobs), and killed again.
Each time the database must be consistent: replaying each job's log gives
its row, and each logged step has exactly its outbox event.
"""

import importlib
import json
import textwrap
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from tentenone.store import Database
from tentenone.store.statemachine import history, replay
from tentenone.store.tables import OUTBOX

WORKER = """
import asyncio
import sys
import uuid
from enum import IntEnum
from typing import ClassVar

from sqlmodel import Field, SQLModel, select

from tentenone.store import Database, add_event, service_registry
from tentenone.store.statemachine import StateMachine, Stateful, create, transition


class Step(IntEnum):
    A = 1
    B = 2
    C = 3
    D = 4


JOB = StateMachine(
    "job", Step, initial={Step.A},
    transitions={Step.A: {Step.B}, Step.B: {Step.C}, Step.C: {Step.D}},
)


class JobTable(SQLModel, registry=service_registry()):
    pass


class Job(JobTable, Stateful, table=True):
    state_machine: ClassVar[StateMachine[Step]] = JOB
    id: str = Field(primary_key=True)


async def step(db, job):
    async with db.transaction() as s:
        await transition(s, job, Step(job.state + 1), "step")
        await add_event(s, event_type="job.stepped", payload={"job": job.id, "v": job.version})


async def new_job(db):
    async with db.transaction() as s:
        job = Job(id=uuid.uuid4().hex, state=Step.A)
        await create(s, job, "created")
        await add_event(s, event_type="job.created", payload={"job": job.id, "v": 1})
    return job


async def main(url):
    db = Database(url, service="jobs", metadata=JobTable.metadata)
    await db.create_all()
    async with db.transaction() as s:
        jobs = list((await s.exec(select(Job).where(Job.state != Step.D))).all())
    print(f"resuming {len(jobs)}", flush=True)
    for n in range(1, 20_000):  # bounded: the test kills it long before
        if not jobs:
            jobs.append(await new_job(db))
        await step(db, jobs[0])
        if jobs[0].state == Step.D:
            jobs.pop(0)
        print(f"committed {n}", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
"""


@pytest.fixture
def worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    name = f"tt_worker_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(WORKER))
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


async def _check_consistent(url: str, module: Any) -> int:
    db = Database(url, service="jobs", metadata=module.JobTable.metadata)
    try:
        async with db.transaction() as s:
            jobs = (await s.exec(select(module.Job))).all()
            conn = await s.connection()
            events = [
                r.payload
                for r in await conn.execute(select(OUTBOX.c.payload).order_by(OUTBOX.c.seq))
            ]
            logs = {job.id: await history(s, module.JOB, job.id) for job in jobs}
    finally:
        await db.close()
    per_job = Counter(json.loads(p)["job"] for p in events)
    for job in jobs:
        log = logs[job.id]
        assert replay(log, module.JOB) == job.state, job.id
        assert job.version == len(log) == per_job[job.id], job.id
    assert sum(per_job.values()) == sum(len(log) for log in logs.values())
    return len(events)


@pytest.mark.slow
async def test_kill_9_leaves_every_step_whole_and_work_resumes(
    db_url: str, spawn: Any, worker: str, tmp_path: Path
) -> None:
    module = importlib.import_module(worker)
    proc = spawn(worker, db_url, cwd=tmp_path)
    await proc.wait_for_output(r"committed 40\b", timeout=120)
    proc.kill()
    first = await _check_consistent(db_url, module)
    assert first >= 40

    proc.restart()
    await proc.wait_for_output(r"resuming [01]\b", timeout=60)
    await proc.wait_for_output(r"committed 40\b", timeout=120)
    proc.kill()
    assert await _check_consistent(db_url, module) >= first + 40
