"""The studio as one person may use it: roles enforced in the core services, budgets
checked before anything is sent, names on what people make (`kling.people.guard`)."""

from __future__ import annotations

import threading

import pytest

from kling.errors import NotAllowedError, OverBudgetError
from kling.models import GenerationRequest
from kling.people import Budgets, Person, Role
from kling.services import open_studio
from kling.settings import Settings
from tests.test_jobs import FakeClient, result_for

VIEWER = Person("vi@acme.com", Role.VIEWER, "Vi")
CREATOR = Person("cy@acme.com", Role.CREATOR, "Cy")
APPROVER = Person("bo@acme.com", Role.APPROVER, "Bo")
ADMIN = Person("ana@acme.com", Role.ADMIN, "Ana")
#: 5 s at the default $0.28 per second.
FIVE_SECONDS = 1.40


class GateClient(FakeClient):
    """Holds every call until `release` is set, so that jobs stay queued or running."""

    def __init__(self) -> None:
        super().__init__(delay=0)
        self.release = threading.Event()

    def generate(self, *, request):
        with self._lock:
            self.calls.append((0.0, request))
        self.release.wait(30)
        return result_for(request)

    def close(self) -> None:
        self.release.set()


@pytest.fixture
def client():
    gate = GateClient()
    yield gate
    gate.release.set()


@pytest.fixture
def base(tmp_path, client):
    studio = open_studio(Settings(data_dir=tmp_path / "data"), retry_downloads=False,
                         client=client)
    yield studio
    client.release.set()
    studio.close()


def request(prompt="A red kite over white dunes, wide shot", duration="5"):
    return GenerationRequest.create(prompt, duration, "16:9", 7)


def test_a_viewer_cannot_queue_rate_review_or_remove_whatever_they_call(base, client):
    viewer = base.for_person(VIEWER)
    with pytest.raises(NotAllowedError, match="creator role or above.*Vi is a viewer"):
        viewer.queue.submit(request(), owner="x")
    with pytest.raises(NotAllowedError):
        viewer.queue.submit_many([request()] * 2, owner="x", batch_id="b1")
    assert client.calls == [] and base.history.load().empty  # nothing sent, nothing logged

    gen = base.for_person(CREATOR).queue.submit(request(), owner="cy").id
    client.release.set()
    base.queue.wait([gen], timeout=30)
    for fields in ({"rating": 5}, {"review_status": "approved"}, {"hidden": True},
                   {"tags": "hero"}, {"favourite": True}):
        with pytest.raises(NotAllowedError):
            viewer.history.annotate(gen, **fields)
    with pytest.raises(NotAllowedError):
        viewer.queue.rerun(gen, owner="x")
    with pytest.raises(NotAllowedError, match="admin role"):
        viewer.archive.delete(gen)
    with pytest.raises(NotAllowedError):
        viewer.templates.create(name="Mine", body="A {thing}")
    with pytest.raises(NotAllowedError):
        viewer.storyboards.create("Launch")
    with pytest.raises(NotAllowedError, match="set budgets"):
        viewer.budgets.save(Budgets(team_usd=1))
    with pytest.raises(AttributeError):  # the queue's own writes are not a person's
        viewer.history.record_pending(request())
    viewer.history.annotate(gen, notes="Love the light")  # viewers comment
    row = base.history.get(gen)
    assert row["notes"] == "Love the light" and row["notes_by"] == "vi@acme.com"
    assert row["review_status"] == "draft" and row["rating"] is None


def test_each_role_may_do_what_the_table_says(base, client):
    client.release.set()
    job = base.for_person(CREATOR).queue.submit(request(), owner="cy")
    base.queue.wait([job.id], timeout=30)
    assert base.history.get(job.id)["created_by"] == "cy@acme.com"
    base.for_person(CREATOR).history.annotate(job.id, rating=4, tags="hero")
    with pytest.raises(NotAllowedError, match="approver role"):
        base.for_person(CREATOR).history.annotate(job.id, review_status="approved")
    base.for_person(APPROVER).history.annotate(job.id, review_status="approved")
    row = base.history.get(job.id)
    assert (row["review_status"], row["reviewed_by"]) == ("approved", "bo@acme.com")

    template = base.for_person(CREATOR).templates.create(name="Kite", body="A {thing} kite")
    assert template.author == "cy@acme.com"
    with pytest.raises(NotAllowedError):
        base.for_person(APPROVER).templates.delete(template.id)
    base.for_person(ADMIN).templates.delete(template.id)
    saved = base.for_person(ADMIN).budgets.save(Budgets(team_usd=100))
    assert saved.updated_by == "ana@acme.com" and base.budgets.load().team_usd == 100


def test_queued_running_and_possibly_billed_jobs_count_against_the_budget(base, client):
    base.budgets.save(Budgets.checked(person_usd=FIVE_SECONDS * 3))
    creator = base.for_person(CREATOR)
    creator.queue.submit(request(), owner="cy")      # running (held at the gate)
    creator.queue.submit(request(), owner="cy")      # running or queued
    # A possibly billed generation of theirs from earlier this month counts too.
    from kling.errors import OutcomeUnknownError
    lost = base.history.record_pending(request(), created_by="cy@acme.com")
    base.history.record_failure(lost, OutcomeUnknownError(), elapsed_s=900)
    assert base.budget_status().person_cap is not None
    with pytest.raises(OverBudgetError) as refused:
        creator.queue.submit(request(), owner="cy")
    assert str(refused.value).startswith(
        "Your monthly budget has $0.00 left this month; this generation needs $1.40.")
    # Someone else has their own allowance; the refused request was never logged or sent.
    base.for_person(APPROVER).queue.submit(request(), owner="bo")
    assert len(base.history.load()) == 4


def test_a_batch_that_does_not_fit_is_refused_whole_before_anything_is_sent(base, client):
    base.budgets.save(Budgets.checked(team_usd=4.20))
    creator = base.for_person(CREATOR)
    with pytest.raises(OverBudgetError, match=r"\$4.20 left this month; this batch needs \$14.00"):
        creator.queue.submit_many([request(duration="10")] * 5, owner="cy", batch_id="b-1")
    assert base.history.load().empty and client.calls == []
    jobs = creator.queue.submit_many([request()] * 3, owner="cy", batch_id="b-2")  # exactly $4.20
    assert len(jobs) == 3


@pytest.mark.parametrize("two_studios", [False, True], ids=["one process", "two studios"])
def test_two_sessions_at_once_cannot_both_spend_the_last_dollars(base, client, tmp_path,
                                                                 two_studios):
    base.budgets.save(Budgets.checked(team_usd=FIVE_SECONDS))
    other = (open_studio(Settings(data_dir=tmp_path / "data"), retry_downloads=False,
                         client=client) if two_studios else base)
    sessions = [base.for_person(CREATOR), other.for_person(APPROVER)]
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def submit(session) -> None:
        start.wait()
        try:
            session.queue.submit(request(), owner=session.person.email)
            outcomes.append("queued")
        except OverBudgetError:
            outcomes.append("refused")

    threads = [threading.Thread(target=submit, args=(s,)) for s in sessions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) == ["queued", "refused"]
    assert len(base.history.load()) == 1
    if two_studios:
        client.release.set()
        other.close()
