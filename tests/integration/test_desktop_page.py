"""The agent desktop page in a real browser, on a real worker, broker, Redis and gateway.

Debian's chromium is driven by Playwright through its executable path (browsers cannot be
downloaded here). Every test runs its own worker and ``ctxi desktop`` on its own topics.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import aiohttp
import orjson
import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from ctxi.ingest.retime import latest_occurrence, shift_line
from ctxi.schemas.task import ConditionHeld, DeviceContext, LearnedFactor, PriorityBreakdown, TaskContext
from ctxi.sinks.redis import RedisTaskStore, connect_redis
from tests.conftest import REPO_ROOT, unavailable
from tests.integration.conftest import DesktopFactory, Namespace, WorkerFactory
from tests.integration.pipeline import Pipeline, read_outcomes
from tests.integration.test_redis_sink import fresh, impossible_travel

# Chromium on these machines runs as root in a container, with no GPU and no network but loopback.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AGENTS = {
    "fraud-1": ("fraud-token-1", ["fraud"]),
    "fraud-2": ("fraud-token-2", ["fraud"]),
    "travel-1": ("travel-token-1", ["travel"]),
    "lead-1": ("lead-token-1", ["fraud", "travel", "service"]),
    "desk-9": ("desk-token-9", ["service"]),  # answers the phone: may look any customer up
}
MORNING = REPO_ROOT / "examples" / "morning.jsonl"
PATIENCE_MS = 30_000  # a worker's first task can take a few seconds after its start


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    executable = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        unavailable("no chromium on PATH (Debian: apt-get install chromium; or set CHROMIUM_PATH)")
    async with async_playwright() as playwright:
        # launch() gives every run a fresh, temporary user-data directory
        browser = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


@pytest.fixture
def screenshots(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """Where screenshots go: ``--screenshots DIR`` (docs/images to refresh the README's), else tmp."""
    chosen = request.config.getoption("--screenshots")
    directory = Path(chosen) if chosen else tmp_path
    directory.mkdir(parents=True, exist_ok=True)
    return directory


class PageOpener(Protocol):
    async def __call__(self, url: str, **context_options: Any) -> Page: ...


class DesktopOpener(Protocol):
    async def __call__(self, base_url: str, agent: str | None = None, **context_options: Any) -> Page: ...


@pytest.fixture
async def open_page(browser: Browser) -> AsyncIterator[PageOpener]:
    """Open pages, each in a browser session of its own (its own storage); a script error is kept in ``page.errors``."""
    contexts: list[BrowserContext] = []

    async def opened(url: str, **context_options: Any) -> Page:
        context = await browser.new_context(**context_options)
        contexts.append(context)
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.errors = errors  # type: ignore[attr-defined]
        await page.goto(url)
        return page

    yield opened
    for context in contexts:
        await context.close()


async def sign_in(page: Page, token_label: str, token: str) -> None:
    await page.get_by_label(token_label).fill(token)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#live")).to_have_text("Live", timeout=PATIENCE_MS)


@pytest.fixture
def open_desktop(open_page: PageOpener) -> DesktopOpener:
    """The agent desktop, signed in as ``agent`` (one of AGENTS) when given."""

    async def opened(base_url: str, agent: str | None = None, **context_options: Any) -> Page:
        page = await open_page(base_url, **context_options)
        if agent is not None:
            await sign_in(page, "Agent token", AGENTS[agent][0])
            await expect(page.locator("#agent-id")).to_have_text(agent)
        return page

    return opened


async def unlabelled_controls(page: Page) -> int:
    """Fields and buttons a screen reader could not name."""
    return await page.evaluate(
        "[...document.querySelectorAll('input, button')].filter(e => !(e.labels?.length || e.textContent.trim()))"
        ".length"
    )


def card(page: Page, customer: str):
    return page.locator(f"li.task[data-customer='{customer}']")


async def shown(page: Page) -> list[tuple[str, str, int]]:
    """The tasks on the page, top to bottom: (customer, queue, priority)."""
    return [
        (customer, queue, int(priority))
        for customer, queue, priority in await page.locator("li.task").evaluate_all(
            """cards => cards.map(c => [c.dataset.customer, c.dataset.queue,
                   c.querySelector("[data-testid=priority]").textContent])"""
        )
    ]


async def feed(namespace: Namespace, events: Iterable[bytes]) -> None:
    """Send events through the worker, each once it has settled (in a thread: the page stays live)."""

    def send() -> None:
        pipeline = Pipeline(namespace)
        try:
            for raw in events:
                pipeline.feed(raw)
        finally:
            pipeline.close()

    await asyncio.to_thread(send)


def morning_now() -> list[bytes]:
    """The example morning moved to now (as ``ctxi events produce --shift-to-now`` does).

    Fed one event at a time: a flight's delay must reach the worker after the bookings on
    that flight, which a burst over several topics does not promise.
    """
    lines = [line for line in MORNING.read_bytes().splitlines() if line.strip()]
    delta = datetime.now(UTC) - latest_occurrence(lines)
    return [shift_line(line, delta) for line in lines]


def ninety_minutes_ago() -> datetime:
    return datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=90)


async def test_tasks_arrive_most_urgent_first_and_a_more_urgent_one_jumps_above(
    open_desktop: DesktopOpener, namespace: Namespace, run_worker: WorkerFactory, run_desktop: DesktopFactory
) -> None:
    run_worker(namespace)
    page = await open_desktop(run_desktop(namespace, AGENTS), "fraud-1")
    await expect(page.locator("#empty")).to_be_visible()
    await page.evaluate("window.sameDocument = true")

    await feed(namespace, impossible_travel("C-std", "standard", ninety_minutes_ago()))
    await expect(card(page, "C-std")).to_be_visible(timeout=PATIENCE_MS)
    std = card(page, "C-std")
    await expect(std.locator("h3")).to_contain_text("Verify card activity")
    await expect(std.locator(".reason")).to_contain_text("from the customer's check-in 90 min earlier")
    # one compact row until it is opened; then the whole card
    await expect(std.locator(".task-detail")).to_be_hidden()
    assert (await std.bounding_box())["height"] < 90
    await std.get_by_role("button", name=re.compile("Verify card activity")).click()
    await expect(std.locator(".task-detail")).to_be_visible()
    await expect(std.get_by_role("button", name=re.compile("Verify card activity"))).to_have_attribute(
        "aria-expanded", "true"
    )
    await expect(std.locator(".evidence li")).to_have_count(2)
    await expect(std.locator(".evidence")).to_contain_text("Card approved: EUR 99.00 at Shop")
    await expect(std.locator(".evidence")).to_contain_text("Card transaction (billing)")  # not billing.card_transaction
    await expect(std.locator(".context-card")).to_contain_text("Standard")
    countdown = std.locator(".countdown")
    await expect(countdown).to_have_text(re.compile(r"^3h \d\dm \d\ds$"))  # fraud tasks expire in 4 h
    await expect(countdown).not_to_have_text(await countdown.inner_text())  # it counts down

    await feed(namespace, impossible_travel("C-plat", "platinum", ninety_minutes_ago()))
    await expect(page.locator("li.task")).to_have_count(2, timeout=PATIENCE_MS)
    (first, _, high), (second, _, low) = await shown(page)
    assert (first, second) == ("C-plat", "C-std") and high > low
    # a task that arrives while the agent works is said (status line, a live region) and marked
    await expect(page.locator("#notice")).to_contain_text("New task: “Verify card activity")
    await expect(page.locator("#notice")).to_contain_text(f"priority {high}, fraud queue, position 1.")
    await expect(card(page, "C-plat").locator(".new-badge")).to_be_visible()
    assert await page.evaluate("window.sameDocument") is True  # live, not reloaded
    assert page.errors == []  # type: ignore[attr-defined]


async def test_a_claim_shows_in_a_second_session_and_completing_sends_the_outcome(
    open_desktop: DesktopOpener, namespace: Namespace, run_worker: WorkerFactory, run_desktop: DesktopFactory
) -> None:
    run_worker(namespace)
    base_url = run_desktop(namespace, AGENTS)
    mine, theirs = await open_desktop(base_url, "fraud-1"), await open_desktop(base_url, "fraud-2")
    await feed(namespace, impossible_travel("C-9", "gold", ninety_minutes_ago()))
    for page in (mine, theirs):
        await expect(card(page, "C-9").get_by_role("button", name="Claim")).to_be_visible(timeout=PATIENCE_MS)

    await card(mine, "C-9").get_by_role("button", name="Claim").click()
    await expect(card(mine, "C-9").locator(".claimed-by")).to_have_text("You have this task")
    await expect(card(theirs, "C-9").locator(".claimed-by")).to_have_text("Claimed by fraud-1")
    await expect(card(theirs, "C-9").get_by_role("button", name="Claim")).to_have_count(0)
    await expect(theirs.locator("#notice")).to_contain_text("was claimed by fraud-1")

    await card(mine, "C-9").get_by_label("Outcome").fill("customer confirmed the Paris purchase")
    await card(mine, "C-9").get_by_role("button", name="Complete").click()
    await expect(mine.locator("#notice")).to_contain_text("outcome sent")
    for page in (mine, theirs):
        await expect(card(page, "C-9")).to_have_count(0)
    [outcome] = await asyncio.to_thread(read_outcomes, namespace.settings)
    assert (outcome.customer_id, outcome.agent_id, outcome.outcome) == ("C-9", "fraud-1", "completed")
    assert outcome.detail == "customer confirmed the Paris purchase"


async def test_a_travel_agent_never_sees_a_fraud_task(
    open_desktop: DesktopOpener,
    namespace: Namespace,
    run_worker: WorkerFactory,
    run_desktop: DesktopFactory,
    redis_url: str,
) -> None:
    run_worker(namespace)
    page = await open_desktop(run_desktop(namespace, AGENTS), "travel-1")
    await feed(namespace, morning_now())
    await feed(namespace, impossible_travel("C-late", "platinum", ninety_minutes_ago()))  # one more fraud task
    store = RedisTaskStore(connect_redis(redis_url), namespace.settings.redis_prefix)
    assert len(await store.list_queue("fraud")) == 2  # they exist, for the fraud team
    await store.client.aclose()

    await expect(page.locator("li.task")).to_have_count(4, timeout=PATIENCE_MS)
    assert {queue for _, queue, _ in await shown(page)} == {"travel"}
    await expect(page.locator("#queue-filter button")).to_have_text(["Travel"])
    assert "fraud" not in (await page.locator("main").inner_text()).lower()


async def test_a_deferred_task_shows_at_its_time_and_an_expired_one_leaves(
    open_desktop: DesktopOpener, namespace: Namespace, run_desktop: DesktopFactory, redis_url: str
) -> None:
    page = await open_desktop(run_desktop(namespace, AGENTS), "fraud-1")
    store = RedisTaskStore(connect_redis(redis_url), namespace.settings.redis_prefix)
    now = datetime.now(UTC)
    await store.write(fresh(task_id="later", customer_id="C-later", not_before=now + timedelta(seconds=3)))
    await store.write(fresh(task_id="brief", customer_id="C-brief", expires_at=now + timedelta(seconds=6)))
    await store.client.aclose()

    await expect(card(page, "C-brief")).to_be_visible()
    await expect(card(page, "C-later")).to_have_count(0)
    await expect(card(page, "C-later")).to_be_visible(timeout=10_000)
    await expect(card(page, "C-brief")).to_have_count(0, timeout=10_000)


async def test_a_task_shows_its_service_level_deadline_and_is_marked_when_it_passes(
    open_desktop: DesktopOpener, namespace: Namespace, run_desktop: DesktopFactory, redis_url: str
) -> None:
    page = await open_desktop(run_desktop(namespace, AGENTS), "fraud-1")
    store = RedisTaskStore(connect_redis(redis_url), namespace.settings.redis_prefix)
    now = datetime.now(UTC)
    resolve_by = now + timedelta(minutes=30)
    late = fresh(task_id="late", customer_id="C-late", claim_by=now - timedelta(minutes=1), resolve_by=resolve_by)
    soon = fresh(task_id="soon", customer_id="C-soon", claim_by=now + timedelta(seconds=4), resolve_by=resolve_by)
    untimed = fresh(task_id="untimed", customer_id="C-untimed")
    due_first = fresh(
        task_id="due-first",
        customer_id="C-due-first",
        due_by=now + timedelta(minutes=10),
        due_for="BA548 leaves LHR",
        claim_by=now + timedelta(minutes=30),
        resolve_by=now + timedelta(hours=1),
    )
    for task in (late, soon, untimed, due_first):
        await store.write(task)
    await store.client.aclose()

    # one clock a row: the deadline that matters now; the others in the opened card
    for customer in ("C-late", "C-soon", "C-untimed", "C-due-first"):
        await expect(card(page, customer).locator(".task-row time")).to_have_count(1)
    await expect(card(page, "C-late").locator(".deadline")).to_contain_text(re.compile(r"Claim overdue 1m \d\ds"))
    await expect(card(page, "C-untimed").locator(".deadline-label")).to_have_text("Expires in")
    due_first_card = card(page, "C-due-first")
    await expect(due_first_card.locator(".deadline-label")).to_have_text("Due in")
    await expect(due_first_card.locator(".deadline-for")).to_have_text("when BA548 leaves LHR")
    await expect(due_first_card.locator(".task-row .service-level")).to_have_count(0)
    await due_first_card.get_by_role("button", name=re.compile("Verify card activity")).click()
    await expect(due_first_card.locator(".meta-more")).to_contain_text("Claim by")
    await expect(due_first_card.locator(".meta-more")).to_contain_text("Resolve by")

    await expect(card(page, "C-late").locator(".service-level")).to_contain_text("Claim by")
    await expect(card(page, "C-late").get_by_test_id("breached")).to_be_visible()
    await expect(card(page, "C-soon").locator(".service-level")).to_contain_text("Claim by")
    await expect(card(page, "C-soon").get_by_test_id("breached")).to_be_hidden()
    await expect(card(page, "C-untimed").locator(".service-level")).to_have_count(0)
    await expect(card(page, "C-soon").get_by_test_id("breached")).to_be_visible(timeout=10_000)  # live, no reload
    # once claimed, the deadline that counts is resolve_by, not passed yet
    await card(page, "C-late").get_by_role("button", name="Claim").click()
    await expect(card(page, "C-late").locator(".service-level")).to_contain_text("Resolve by")
    await expect(card(page, "C-late").get_by_test_id("breached")).to_be_hidden()


async def test_on_now_only_for_a_recent_session_otherwise_last_seen(
    open_desktop: DesktopOpener, namespace: Namespace, run_desktop: DesktopFactory, redis_url: str
) -> None:
    """A session from months ago once showed as "ON NOW: Phone · app (271d 15h ago)"."""
    page = await open_desktop(run_desktop(namespace, AGENTS), "fraud-1")
    store = RedisTaskStore(connect_redis(redis_url), namespace.settings.redis_prefix)
    now = datetime.now(UTC)
    for customer, seen in (("C-now", now - timedelta(minutes=5)), ("C-then", now - timedelta(days=271, hours=15))):
        device = DeviceContext(device_type="phone", channel="app", seen_at=seen)
        await store.write(fresh(task_id=f"t-{customer}", customer_id=customer, context=TaskContext(device=device)))
    await store.client.aclose()

    await expect(card(page, "C-now").locator(".context-card")).to_contain_text("On now: Phone · app (5m")
    then = card(page, "C-then").locator(".context-card")
    await expect(then).to_contain_text("Last seen on Phone · app (271d 15h ago)")
    await expect(then).not_to_contain_text("On now")


async def test_signing_in_needs_a_valid_token_and_the_work_is_done_from_the_keyboard(
    open_desktop: DesktopOpener, namespace: Namespace, run_desktop: DesktopFactory, redis_url: str
) -> None:
    base_url = run_desktop(namespace, AGENTS)
    store = RedisTaskStore(connect_redis(redis_url), namespace.settings.redis_prefix)
    await store.write(fresh(task_id="keys", customer_id="C-keys"))
    await store.client.aclose()
    page = await open_desktop(base_url)
    await page.get_by_label("Agent token").fill("not-a-token")
    await page.keyboard.press("Enter")
    await expect(page.locator("#sign-in-error")).to_have_text("That token is not valid.")
    await expect(page.locator("li.task")).to_have_count(0)

    await page.get_by_label("Agent token").fill(AGENTS["fraud-1"][0])
    await page.keyboard.press("Enter")
    await expect(card(page, "C-keys")).to_be_visible()
    for _ in range(40):  # Tab through the page to the Claim button, as a keyboard user does
        await page.keyboard.press("Tab")
        if await page.evaluate("document.activeElement.textContent") == "Claim":
            break
    else:
        pytest.fail("the Claim button cannot be reached with Tab")
    await page.keyboard.press("Enter")
    await expect(page.get_by_label("Outcome")).to_be_focused()  # the claim moves focus to the outcome
    await page.keyboard.type("called the customer: all fine")
    await page.keyboard.press("Enter")
    await expect(card(page, "C-keys")).to_have_count(0)


async def test_the_desktop_on_a_laptop_and_a_tablet(
    open_desktop: DesktopOpener,
    namespace: Namespace,
    run_worker: WorkerFactory,
    run_desktop: DesktopFactory,
    redis_url: str,
    screenshots: Path,
) -> None:
    """The example morning on a team lead's desktop: every queue, saved as the README's screenshot."""
    run_worker(namespace)
    base_url = run_desktop(namespace, AGENTS)
    await feed(namespace, morning_now())
    laptop = await open_desktop(base_url, "lead-1", viewport={"width": 1280, "height": 900})
    await expect(laptop.locator("li.task")).to_have_count(8, timeout=PATIENCE_MS)
    priorities = [priority for _, _, priority in await shown(laptop)]
    assert priorities == sorted(priorities, reverse=True)
    await laptop.get_by_role("button", name="Fraud").click()
    await expect(laptop.locator("li.task")).to_have_count(1)
    await laptop.get_by_role("button", name="All queues").click()
    await expect(laptop.locator("li.task")).to_have_count(8)
    # a compact list: the whole queue fits on a 1280x900 screen without scrolling
    last = await laptop.locator("li.task").nth(7).bounding_box()
    assert last is not None and last["y"] + last["height"] <= 900, last
    missed = card(laptop, "C-4004").filter(has_text="Rebook the LHR")
    await expect(missed.locator(".deadline-for")).to_have_text("when BA548 leaves LHR")  # which flight is due
    fraud = card(laptop, "C-1001")
    await fraud.get_by_role("button", name=re.compile("Verify card activity")).click()
    await expect(fraud.locator(".context-card")).to_contain_text("Lifetime value")
    await expect(fraud.locator(".context-card")).to_contain_text("USD 18,250.00")
    await laptop.screenshot(path=screenshots / "desktop.png")

    tablet = await open_desktop(base_url, "lead-1", viewport={"width": 768, "height": 1024}, has_touch=True)
    await expect(tablet.locator("li.task")).to_have_count(8)
    assert await tablet.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # no sideways scroll
    assert await unlabelled_controls(tablet) == 0
    # claiming opens the card; neither the status line nor the forms crowd the page
    top_before = (await tablet.locator("li.task").first.bounding_box())["y"]
    service = card(tablet, "C-3003").filter(has_text="Take ownership of critical case")
    await service.get_by_role("button", name="Claim").click()
    await expect(tablet.locator("#notice")).to_contain_text("You claimed")
    assert (await tablet.locator("li.task").first.bounding_box())["y"] == top_before  # the list stays put
    for field in ("Outcome", "Reason"):
        cut = await service.get_by_label(field).evaluate(
            """input => {
                const style = getComputedStyle(input);
                const measure = document.createElement("canvas").getContext("2d");
                measure.font = style.font;
                const room = input.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
                return measure.measureText(input.placeholder).width > room;
            }"""
        )
        assert not cut, f"the {field} placeholder is cut off"
    await expect(service.locator(".context-card")).to_contain_text("USD 22,000.00")
    await service.scroll_into_view_if_needed()
    await tablet.screenshot(path=screenshots / "desktop-tablet.png")


async def test_an_update_to_a_task_keeps_what_the_agent_is_typing(
    open_desktop: DesktopOpener, namespace: Namespace, run_desktop: DesktopFactory, redis_url: str
) -> None:
    store = RedisTaskStore(connect_redis(redis_url), namespace.settings.redis_prefix)
    task = fresh(task_id="typing", customer_id="C-typing", priority=50)
    await store.write(task)
    page = await open_desktop(run_desktop(namespace, AGENTS), "fraud-1")
    await card(page, "C-typing").get_by_role("button", name="Claim").click()
    outcome = card(page, "C-typing").get_by_label("Outcome")
    await expect(outcome).to_be_focused()
    await page.keyboard.type("called, customer")

    # new facts: the rule fired again inside its cool-down, and the task ranks higher
    await store.write(task.model_copy(update={"revision": 2, "priority": 80, "reason": "a second card payment"}))
    await store.client.aclose()
    await expect(card(page, "C-typing").locator(".reason")).to_contain_text("a second card payment")
    await expect(card(page, "C-typing").locator("[data-testid=priority]")).to_have_text("80")
    # a task that moves up is said and marked, like a new one
    await expect(page.locator("#notice")).to_contain_text("Priority up: “")
    await expect(page.locator("#notice")).to_contain_text("is now 80 (was 50), position 1.")
    await expect(card(page, "C-typing").locator(".raised-badge")).to_be_visible()
    await expect(outcome).to_have_value("called, customer")
    await expect(outcome).to_be_focused()


async def test_why_this_priority_shows_what_the_rule_learned_and_the_escalation(
    open_desktop: DesktopOpener, namespace: Namespace, run_desktop: DesktopFactory, redis_url: str
) -> None:
    store = RedisTaskStore(connect_redis(redis_url), namespace.settings.redis_prefix)
    now = datetime.now(UTC).replace(microsecond=0)
    learned = LearnedFactor(factor=0.52, completed=8, dismissed=32)
    breakdown = PriorityBreakdown(base=75, value=1.05, context=1, urgency=1, learned=learned, priority=41)
    held = [
        ConditionHeld(clause="has(signals.location_conflict)", reads={"signals.location_conflict": "{...}"}),
        ConditionHeld(
            clause="!signals.location_conflict.explained_by_travel",
            reads={"signals.location_conflict.explained_by_travel": "false"},
        ),
    ]
    task = fresh(task_id="learned", customer_id="C-learned", priority=41, priority_breakdown=breakdown,
                 created_at=now - timedelta(minutes=7), claim_by=now - timedelta(seconds=12),
                 conditions=held)  # fmt: skip
    await store.write(task)
    assert await store.escalate(task, 1, 15, now)
    await store.client.aclose()
    page = await open_desktop(run_desktop(namespace, AGENTS), "fraud-1")
    learned_card = card(page, "C-learned")
    await expect(learned_card.get_by_test_id("priority")).to_have_text("56")  # 41 + 15
    await learned_card.locator(".task-open").click()
    await learned_card.get_by_text("Why this priority").click()
    why = learned_card.locator(".breakdown")
    await expect(why).to_contain_text("× Learned0.528 of 40 closed tasks of this rule completed")
    await expect(why).to_contain_text("+ Escalated+15unclaimed for 7m 00s (stage 1)")
    # why the rule fired: its clauses, each with what it read
    await learned_card.get_by_text("Why this task").click()
    conditions = learned_card.get_by_test_id("conditions")
    await expect(conditions).to_contain_text("Rule fraud.impossible_travel v1 fired")
    await expect(conditions).to_contain_text("!signals.location_conflict.explained_by_travel")
    await expect(conditions).to_contain_text("signals.location_conflict.explained_by_travel = false")


# --- the supervisor page -----------------------------------------------------------------

SUPERVISORS = {"floor-1": ("floor-token-1", ["fraud", "travel", "service"])}
ESCALATING = """policy: test-floor
owner: ops
levels:
  - queue: fraud
    priority: any
    claim_within: 1h
    resolve_within: 4h
    escalate:
      - after: 0m
        raise_priority_by: 30
"""


async def open_supervisor(open_page: PageOpener, base_url: str, **context_options: Any) -> Page:
    page = await open_page(f"{base_url}/supervisor", **context_options)
    await sign_in(page, "Supervisor token", SUPERVISORS["floor-1"][0])
    await expect(page.locator("#supervisor-id")).to_have_text("floor-1")
    return page


async def test_a_breach_shows_live_to_the_supervisor_and_the_escalated_task_jumps_up_on_a_desktop(
    open_page: PageOpener,
    open_desktop: DesktopOpener,
    namespace: Namespace,
    run_desktop: DesktopFactory,
    redis_url: str,
    tmp_path: Path,
) -> None:
    policy = tmp_path / "service-levels.yaml"
    policy.write_text(ESCALATING)
    namespace.env["CTXI_SLA_POLICY"] = str(policy)
    base_url = run_desktop(namespace, AGENTS, SUPERVISORS)
    store = RedisTaskStore(connect_redis(redis_url), namespace.settings.redis_prefix)
    await store.write(fresh(task_id="steady", customer_id="C-steady", priority=70, title="Review a card payment"))
    desktop = await open_desktop(base_url, "fraud-1")
    supervisor = await open_supervisor(open_page, base_url)
    # written once both pages are up, whatever the machine's pace: its claim_by comes after the checks below
    slipping = fresh(
        task_id="slipping",
        customer_id="C-slipping",
        priority=50,
        title="Call back about the blocked card",
        claim_by=datetime.now(UTC) + timedelta(seconds=8),
    )
    await store.write(slipping)
    await store.client.aclose()
    await expect(desktop.locator("li.task")).to_have_count(2)
    assert [customer for customer, _, _ in await shown(desktop)] == ["C-steady", "C-slipping"]
    fraud = supervisor.locator("li.tile[data-queue='fraud']")
    await expect(fraud.get_by_test_id("backlog")).to_contain_text("2")
    await expect(fraud.get_by_test_id("breached")).to_contain_text("0")
    await expect(supervisor.locator("#no-breaches")).to_be_visible()

    # at claim_by the task breaches, and the gateway escalates it: +30 puts it above the other
    breach = supervisor.locator("li.breach[data-task-id='slipping']")
    await expect(breach).to_be_visible(timeout=20_000)  # live, no reload
    await expect(breach).to_contain_text("unclaimed")
    await expect(breach).to_contain_text("escalated to stage 1, +30")
    await expect(breach.locator(".overdue")).to_contain_text("overdue 0m")
    await expect(fraud.get_by_test_id("breached")).to_contain_text("1")
    alerts = supervisor.locator("#alerts")
    await expect(alerts).to_contain_text("Breached: “Call back about the blocked card” (fraud), not claimed by")
    await expect(alerts).to_contain_text(
        "Escalated: “Call back about the blocked card” (fraud) to stage 1, +30 priority"
    )
    # a supervisor signing in now is told what is breaching already, as the list shows it
    arriving = await open_supervisor(open_page, base_url)
    await expect(arriving.locator("#alerts")).to_contain_text(
        "1 task was breaching when you signed in; the most urgent: “Call back about the blocked card” (fraud)."
    )
    await expect(arriving.locator("li.breach[data-task-id='slipping']")).to_be_visible()
    await expect(card(desktop, "C-slipping").get_by_test_id("priority")).to_have_text("80")
    assert [customer for customer, _, _ in await shown(desktop)] == ["C-slipping", "C-steady"]
    await expect(card(desktop, "C-slipping")).to_have_class(re.compile(r"\braised\b"))
    await expect(desktop.locator("#notice")).to_contain_text("is now 80 (was 50), position 1.")

    # the supervisor's token on the desktop: it watches, it has no Claim button
    watching = await open_page(base_url)
    await sign_in(watching, "Agent token", SUPERVISORS["floor-1"][0])
    await expect(card(watching, "C-slipping")).to_contain_text("Unclaimed")
    await expect(watching.get_by_role("button", name="Claim")).to_have_count(0)
    await expect(watching.locator("#notice")).to_contain_text("the supervisor view is at /supervisor")

    # claimed (late): the breach leaves the list, and the queue's attainment says so
    await card(desktop, "C-slipping").get_by_role("button", name="Claim").click()
    await expect(breach).to_have_count(0, timeout=10_000)
    await expect(fraud.get_by_test_id("attainment")).to_contain_text("0%")
    await expect(supervisor.locator("#agents tr[data-agent='fraud-1']")).to_contain_text(
        "Call back about the blocked card"
    )
    assert desktop.errors == [] and supervisor.errors == []  # type: ignore[attr-defined]


async def test_the_supervisor_page_on_a_laptop_and_a_tablet(
    open_page: PageOpener,
    namespace: Namespace,
    run_worker: WorkerFactory,
    run_desktop: DesktopFactory,
    screenshots: Path,
) -> None:
    """The example morning under the example policy, with some of it worked: the README's screenshot."""
    namespace.env["CTXI_SLA_POLICY"] = str(REPO_ROOT / "examples" / "service-levels.yaml")
    run_worker(namespace)
    base_url = run_desktop(namespace, AGENTS, SUPERVISORS)
    refused = await open_page(f"{base_url}/supervisor")
    await refused.get_by_label("Supervisor token").fill(AGENTS["fraud-1"][0])
    await refused.get_by_role("button", name="Sign in").click()
    await expect(refused.locator("#sign-in-error")).to_have_text(
        "Could not sign in: this page needs a supervisor token; agents work from the desktop"
    )

    await feed(namespace, morning_now())
    laptop = await open_supervisor(open_page, base_url, viewport={"width": 1280, "height": 900})
    await expect(laptop.locator("li.tile")).to_have_count(3)
    backlog = laptop.locator("li.tile").get_by_test_id("backlog")
    await expect(backlog).to_have_text(
        ["Waiting1", "Waiting3", "Waiting5"], timeout=PATIENCE_MS
    )  # fraud, service, travel
    async with aiohttp.ClientSession(base_url) as agent:  # an hour's work, in short
        await work(agent, "fraud-1", "fraud", "complete", {"outcome": "customer confirmed the purchase"})
        await work(agent, "travel-1", "travel", "dismiss", {"reason": "rebooked by the airline already"})
        await work(agent, "travel-1", "travel", None, {})
        await work(agent, "lead-1", "service", None, {})
    await expect(laptop.locator("#agents tbody tr")).to_have_count(3)
    await expect(laptop.locator("table.rules tbody tr").first).to_be_visible()
    # every figure as the tasks have it: they reached their queues a minute ago (the morning's
    # events span hours), so waits are minutes, nothing has missed a deadline counted from then,
    # and every claim came within its queue's target
    tiles = laptop.locator("li.tile")
    minutes = re.compile(r"^Oldest wait\s*\d+m \d\ds$")
    await expect(tiles.get_by_test_id("oldest-wait")).to_have_text(["Oldest wait–", minutes, minutes])  # fraud: worked
    await expect(tiles.get_by_test_id("attainment")).to_have_text(["Claimed in time100%"] * 3)
    await expect(tiles.get_by_test_id("breached")).to_have_text(["Breached0"] * 3)
    await expect(laptop.locator("#no-breaches")).to_be_visible()
    await expect(laptop.locator("#no-alerts")).to_be_visible()
    assert await laptop.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    await laptop.screenshot(path=screenshots / "supervisor.png", full_page=True)

    tablet = await open_supervisor(open_page, base_url, viewport={"width": 768, "height": 1024}, has_touch=True)
    await expect(tablet.locator("#agents tbody tr")).to_have_count(3)
    assert await tablet.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # no sideways scroll
    assert await unlabelled_controls(tablet) == 0
    assert laptop.errors == [] and tablet.errors == []  # type: ignore[attr-defined]


async def work(client: aiohttp.ClientSession, agent: str, queue: str, close: str | None, body: dict[str, str]) -> None:
    """``agent`` claims the most urgent unclaimed task of ``queue``, and closes it (``complete`` or ``dismiss``)."""
    headers = {"Authorization": f"Bearer {AGENTS[agent][0]}"}
    async with client.get(f"/api/queues/{queue}/tasks", headers=headers) as listed:
        task_id = next(t["task_id"] for t in (await listed.json())["tasks"] if t["claimed_by"] is None)
    async with client.post(f"/api/tasks/{task_id}/claim", headers=headers) as claimed:
        assert claimed.status == 200, await claimed.text()
    if close is not None:
        async with client.post(f"/api/tasks/{task_id}/{close}", headers=headers, json=body) as closed:
            assert closed.status == 200, await closed.text()


async def test_the_customer_view_shows_the_live_context_and_an_event_sent_while_it_is_open(
    open_desktop: DesktopOpener,
    namespace: Namespace,
    run_worker: WorkerFactory,
    run_desktop: DesktopFactory,
    screenshots: Path,
) -> None:
    """After the demo stream an agent opens a task's customer: the latest location and device (not
    the task's snapshot), engagement with its parts, the timeline and the customer's other tasks;
    a session sent while the view is open shows within a second."""
    run_worker(namespace)
    base_url = run_desktop(namespace, AGENTS)
    await feed(namespace, morning_now())
    page = await open_desktop(base_url, "lead-1", viewport={"width": 1280, "height": 1400})
    await expect(page.locator("li.task")).to_have_count(8, timeout=PATIENCE_MS)
    rebook = card(page, "C-4004").filter(has_text="Rebook the LHR")
    await rebook.get_by_role("button", name=re.compile("Rebook the LHR")).click()
    snapshot_device = await rebook.locator(".context-card").inner_text()
    await rebook.get_by_role("button", name="Open customer C-4004").click()

    view = page.locator("#customer")
    await expect(view.get_by_role("heading", name="Customer C-4004")).to_be_focused()
    engagement = view.get_by_test_id("engagement")
    for part in ("Emotional", "Behavioural", "Social"):
        await expect(engagement).to_contain_text(part)
    await expect(view.get_by_test_id("customer-device")).to_contain_text("Phone · app")
    await expect(view.get_by_test_id("timeline").locator("li")).not_to_have_count(0)
    tasks = view.get_by_role("region", name="Their tasks")
    await expect(tasks).to_contain_text("Rebook the LHR")
    await expect(tasks).to_contain_text("Severe weather at LHR")  # the customer's other task

    # the customer opens the app in Rome while the agent looks: the view has it, the task's card does not
    session = {
        "event_id": "cv-rome",
        "type": "device.session",
        "customer_id": "C-4004",
        "occurred_at": datetime.now(UTC).isoformat(),
        "payload": {
            "actor": "customer",
            "device_type": "tablet",
            "channel": "web",
            "ip_location": {"lat": 41.9, "lon": 12.5, "city": "Rome", "country": "IT", "accuracy_km": 25.0},
        },
    }
    pipeline = await asyncio.to_thread(Pipeline, namespace)
    try:
        topic = namespace.settings.input_topic("device")
        raw = orjson.dumps(session)
        await asyncio.to_thread(lambda: pipeline.producer.send(topic, key=b"C-4004", value=raw).get(timeout=10))
        sent = asyncio.get_running_loop().time()
        await expect(view.get_by_test_id("timeline").locator("li").first).to_contain_text("Rome", timeout=10_000)
        took = asyncio.get_running_loop().time() - sent
    finally:
        pipeline.close()
    await expect(view.get_by_test_id("customer-device")).to_contain_text("On now: Tablet · web")
    await expect(view.get_by_test_id("customer-location")).to_contain_text("Rome, IT")
    assert "Tablet" not in snapshot_device and "Tablet" not in await rebook.locator(".context-card").inner_text()
    assert took < 1.0, f"the session showed {took:.2f} s after it was sent"
    assert await unlabelled_controls(page) == 0
    await page.screenshot(path=screenshots / "customer-view.png")

    await page.keyboard.press("Escape")  # back to where the agent was
    await expect(view).to_be_hidden()
    await expect(rebook.get_by_role("button", name="Open customer C-4004")).to_be_focused()
    assert page.errors == []  # type: ignore[attr-defined]


async def test_a_caller_with_lookup_opens_a_customer_of_another_queue_by_id(
    open_desktop: DesktopOpener, namespace: Namespace, run_worker: WorkerFactory, run_desktop: DesktopFactory
) -> None:
    run_worker(namespace)
    base_url = run_desktop(namespace, AGENTS, lookups=frozenset({"desk-9"}))
    await feed(namespace, morning_now())
    page = await open_desktop(base_url, "desk-9")
    other = await open_desktop(base_url, "fraud-1")
    await expect(other.locator("#lookup-form")).to_be_hidden()  # a token without lookup has no search
    search = page.get_by_role("search", name="Look up a customer")
    await search.get_by_label("Customer").fill("C-1001")  # the fraud customer: no task in desk-9's queue
    await search.get_by_role("button", name="Open").click()
    view = page.locator("#customer")
    await expect(view.get_by_role("heading", name="Customer C-1001")).to_be_focused(timeout=PATIENCE_MS)
    await expect(view.get_by_test_id("customer-location")).to_contain_text("Paris")
    await expect(view.get_by_role("region", name="Their tasks")).to_contain_text("No open task in your queues.")
    await page.keyboard.press("Escape")
    await expect(view).to_be_hidden()
    await expect(search.get_by_label("Customer")).to_be_focused()
    await search.get_by_label("Customer").fill("nobody@example.com")
    await search.get_by_role("button", name="Open").click()
    await expect(page.locator("#notice")).to_have_text("No customer with the id or identifier “nobody@example.com”.")
    assert page.errors == []  # type: ignore[attr-defined]
