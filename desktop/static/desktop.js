// The ctxi agent desktop: sign in with a token, list the allowed queues most urgent first,
// follow their changes live, and claim, complete or dismiss tasks.
//
// Every text from a task is put in the page with textContent (h), never as markup.
import {
  $, api, capitalize, deviceText, duration, eventKind, followQueues, formatTime, h, money, oneAtATime, place,
  sentimentText, showSignIn, startSession,
} from "./common.js";
import { closeCustomer, openCustomer } from "./customer.js";

const TOKEN_KEY = "ctxi.token"; // sessionStorage: gone when the tab closes
const URGENT_MINUTES = 15; // a countdown turns red below this

const state = {
  token: null,
  agent: null,
  watching: false, // signed in with a supervisor's token
  queues: [],
  filter: "all",
  tasks: [], // merged over queues, most urgent first
  cards: new Map(), // task_id -> <li>
  following: null, // AbortController of the live streams
  seen: new Map(), // task id -> priority last shown: flags new arrivals and tasks that moved up
  listed: false, // the first listing since sign-in is shown: what comes after it is new
  open: new Set(), // task ids shown in full; the rest are one compact row each
};

const NEW_FOR_MS = 2 * 60000; // how long a task that arrived or moved up while the agent works is marked

// The API with this session's token; a token no longer accepted ends the session.
async function call(path, options) {
  try {
    return await api(state.token, path, options);
  } catch (error) {
    if (error.status === 401 && state.agent) signOut("Your token is no longer accepted: sign in again.");
    throw error;
  }
}

// --- signing in and out ------------------------------------------------------------------

async function signIn(token) {
  const me = await api(token, "/api/me");
  state.token = token;
  state.agent = me.agent_id;
  state.watching = me.role === "supervisor"; // a supervisor's token reads the queues, claims nothing
  state.queues = me.queues;
  state.filter = "all";
  $("agent-id").textContent = me.agent_id;
  $("sign-in").hidden = true;
  $("session").hidden = false;
  $("work").hidden = false;
  $("lookup-form").hidden = !me.customer_lookup; // a token that may open any customer, not only its tasks'
  renderFilter();
  follow();
  await scheduleRefresh();
  if (state.watching) notice("Signed in with a supervisor token: you watch these queues; the supervisor view is at /supervisor.");
  $("tasks").focus({ preventScroll: true });
}

function signOut(message = "") {
  state.following?.abort();
  state.following = null;
  Object.assign(state, { token: null, agent: null, watching: false, queues: [], tasks: [] });
  state.cards.clear();
  state.seen.clear();
  state.open.clear();
  state.listed = false;
  closeCustomer(false);
  $("tasks").replaceChildren();
  $("work").hidden = true;
  showSignIn(TOKEN_KEY, message);
}

// --- live updates ----------------------------------------------------------------------

function follow() {
  state.following?.abort();
  state.following = followQueues(state.queues, state.token, {
    onConnected: scheduleRefresh,
    onChange,
    onUnauthorized: () => signOut("Your token is no longer accepted: sign in again."),
  });
}

function onChange(change) {
  if (change.change === "claimed" && change.agent_id !== state.agent) {
    const task = state.tasks.find((t) => t.task_id === change.task_id);
    if (task) notice(`“${task.title}” was claimed by ${change.agent_id}.`);
  }
  scheduleRefresh();
}

// Listings run one at a time, and a change during one queues exactly one more: the page
// never shows an older listing after a newer one. Resolves once the page shows the change.
const scheduleRefresh = oneAtATime(refresh);

// When a task reached its queue (ms): waits count from then, not from the event that made it.
function queuedAt(task) {
  return new Date(task.queued_at || task.created_at).getTime();
}

async function refresh() {
  if (!state.agent) return;
  try {
    const listings = await Promise.all(state.queues.map((q) => call(`/api/queues/${encodeURIComponent(q)}/tasks`)));
    state.tasks = listings
      .flatMap((listing) => listing.tasks)
      // after an escalation several may show 100: the more urgent before it first, then the longer wait
      .sort(
        (a, b) =>
          b.priority - a.priority ||
          b.priority_before_escalation - a.priority_before_escalation ||
          queuedAt(a) - queuedAt(b),
      );
    render();
  } catch (error) {
    if (state.agent) notice(`Could not load the tasks: ${error.message}`);
  }
}

function notice(text) {
  $("notice").textContent = text;
}

// --- rendering -------------------------------------------------------------------------

function renderFilter() {
  const options = state.queues.length > 1 ? ["all", ...state.queues] : state.queues;
  $("queue-filter").replaceChildren(
    ...options.map((queue) =>
      h("button", {
        type: "button",
        class: "chip",
        "aria-pressed": String(state.filter === queue || options.length === 1),
        dataset: { queue },
        onclick: () => selectFilter(queue),
      }, queue === "all" ? "All queues" : capitalize(queue)),
    ),
  );
}

function selectFilter(queue) {
  state.filter = queue;
  for (const chip of $("queue-filter").children) chip.setAttribute("aria-pressed", String(chip.dataset.queue === queue));
  render();
}

function render() {
  const list = $("tasks");
  const shown = state.tasks.filter((t) => state.filter === "all" || t.queue === state.filter);
  const focused = document.activeElement;
  const keep = new Set(shown.map((t) => t.task_id));
  for (const [id, card] of state.cards) {
    if (!keep.has(id)) {
      card.remove();
      state.cards.delete(id);
    }
  }
  const arrived = [];
  const raised = [];
  shown.forEach((task, index) => {
    let card = state.cards.get(task.task_id);
    const signature = `${task.revision}|${task.priority}|${task.claimed_by ?? ""}`;
    if (!card) {
      card = h("li", {
        class: "task", dataset: { taskId: task.task_id, customer: task.customer_id, queue: task.queue },
      });
      state.cards.set(task.task_id, card);
    }
    const before = state.seen.get(task.task_id);
    if (state.listed && before === undefined) {
      mark(card, "new");
      arrived.push(task);
    } else if (state.listed && task.priority > before) {
      mark(card, "raised");
      raised.push({ task, before });
    }
    if (card.dataset.signature !== signature) {
      fillCard(card, task);
      card.dataset.signature = signature;
    }
    if (list.children[index] !== card) list.insertBefore(card, list.children[index] ?? null);
  });
  for (const task of state.tasks) state.seen.set(task.task_id, task.priority);
  state.listed = true;
  // said by the status line (a polite live region): heard with a screen reader, seen without
  const position = (task) => `position ${shown.indexOf(task) + 1}`;
  if (arrived.length) {
    const top = arrived[0];
    notice(
      `New task${arrived.length > 1 ? `s (${arrived.length}), the most urgent` : ""}: ` +
      `“${top.title}”, priority ${top.priority}, ${top.queue} queue, ${position(top)}.`,
    );
  } else if (raised.length) {
    const { task, before } = raised[0];
    notice(`Priority up: “${task.title}” is now ${task.priority} (was ${before}), ${position(task)}.`);
  }
  $("empty").hidden = shown.length > 0;
  if (focused && focused !== document.activeElement && focused.isConnected) focused.focus();
  tick();
}

// A task that arrived ("new") or moved up ("raised") while the agent works: highlighted for a
// moment, then badged for NEW_FOR_MS.
function mark(card, why) {
  card.classList.remove("new", "raised");
  card.classList.add("arrived", why);
  clearTimeout(card.markTimers?.[0]);
  clearTimeout(card.markTimers?.[1]);
  card.markTimers = [
    setTimeout(() => card.classList.remove("arrived"), 4000),
    setTimeout(() => card.classList.remove(why), NEW_FOR_MS),
  ];
}

function toggle(card, taskId, open = !state.open.has(taskId)) {
  if (open) state.open.add(taskId);
  else state.open.delete(taskId);
  card.classList.toggle("open", open);
  card.querySelector(".task-open")?.setAttribute("aria-expanded", String(open));
  const detail = card.querySelector(".task-detail");
  if (detail) detail.hidden = !open;
}

function fillCard(card, task) {
  // what the agent is typing survives a re-render (a new revision, someone's claim)
  const typed = {};
  for (const input of card.querySelectorAll("input")) typed[input.name] = input.value;
  const focusedField = card.contains(document.activeElement) ? document.activeElement.name : null;
  const titleId = `title-${task.task_id}`;
  const detailId = `detail-${task.task_id}`;
  const clock = rowClock(task);
  const open = state.open.has(task.task_id);
  card.setAttribute("aria-labelledby", titleId);
  card.classList.toggle("open", open);
  // one compact row (priority, title, queue, customer, reason, countdown, claim); the full card on opening it
  card.replaceChildren(
    h("div", { class: "task-row" },
      h("div", { class: `priority band-${task.band}`, "aria-label": `Priority ${task.priority}, ${task.band}` },
        h("span", { class: "priority-number", "data-testid": "priority" }, task.priority),
        h("span", { class: "priority-band" }, task.band)),
      h("div", { class: "task-summary" },
        h("h3", { id: titleId },
          h("button", {
            type: "button", class: "task-open", "aria-expanded": String(open), "aria-controls": detailId,
            onclick: () => toggle(card, task.task_id),
          },
          h("span", { class: "new-badge" }, "New"),
          h("span", { class: "raised-badge" }, "Up"),
          h("span", { class: "task-title" }, task.title))),
        h("p", { class: "meta" },
          h("span", { class: `queue-tag queue-${task.queue}` }, task.queue),
          h("span", { class: "customer" }, task.customer_id),
          h("span", { class: "reason" }, task.reason))),
      // one clock: the deadline that matters now (the others are in the opened card)
      h("div", { class: "deadline" },
        h("span", {},
          h("span", { class: "deadline-label", dataset: { verb: clock.verb } }, `${clock.verb} in `),
          h("time", { class: "countdown", datetime: clock.at, dataset: { deadline: clock.at } }, "")),
        clock.serviceLevel ? serviceLevel(task, clock.at) : h("span", { class: "deadline-for" }, clock.what)),
      claimState(task)),
    h("div", { class: "task-detail", id: detailId, hidden: !open },
      h("p", { class: "meta-more" },
        task.channel ? `Reach by ${task.channel} · ` : "",
        task.claim_by && !task.claimed_by ? `Claim by ${formatTime(task.claim_by)} · ` : "",
        task.resolve_by ? `Resolve by ${formatTime(task.resolve_by)} · ` : "",
        task.due_by ? `Due ${formatTime(task.due_by)}${task.due_for ? ` (${task.due_for})` : ""} · ` : "",
        `expires ${formatTime(task.expires_at)} · rule ${task.rule_id} v${task.rule_version}`),
      contextCard(task.context),
      h("div", { class: "columns" },
        h("section", { "aria-label": "What to do" },
          h("h4", {}, "What to do"),
          h("ol", { class: "steps" }, task.steps.map((step) => h("li", {}, step)))),
        h("section", { "aria-label": "Evidence" },
          h("h4", {}, "Evidence"),
          evidenceList(task))),
      // side by side while closed: the card is no taller than with one (a claim's form stays in view)
      h("div", { class: "why" }, conditions(task), breakdown(task),
        // beside them, not a row of its own: the claimed card's outcome field stays where it was
        h("button", {
          type: "button", class: "secondary open-customer",
          onclick: (event) => openCustomer(call, task.customer_id, task.task_id, event.currentTarget),
        }, `Open customer ${task.customer_id}`)),
      task.claimed_by === state.agent ? closeForms(task, typed) : null),
  );
  if (focusedField) card.querySelector(`input[name="${focusedField}"]`)?.focus();
}

// The row's one clock: the service level's deadline (claim by it until the task is claimed, then
// resolve by it) when it has passed or comes first; else what the task is due for, or its expiry.
function rowClock(task) {
  const claimed = Boolean(task.claimed_by);
  const target = claimed ? task.resolve_by : task.claim_by;
  const due = task.due_by || task.expires_at;
  const what = task.due_by && task.due_for ? `when ${task.due_for}` : formatTime(due);
  const dueClock = { verb: task.due_by ? "Due" : "Expires", at: due, what, serviceLevel: false };
  if (!target) return dueClock;
  const passed = new Date(target).getTime() <= Date.now();
  if (!passed && new Date(target).getTime() > new Date(due).getTime()) return dueClock;
  return { verb: claimed ? "Resolve" : "Claim", at: target, serviceLevel: true };
}

// The service level's deadline on the row, marked breached (by tick, live) once it has passed.
function serviceLevel(task, target) {
  const claimed = Boolean(task.claimed_by);
  const passed = new Date(target).getTime() <= Date.now();
  return h("span", { class: `service-level${passed ? " breached" : ""}`, dataset: { slaDeadline: target } },
    h("span", { class: "sla-target" }, `${claimed ? "Resolve" : "Claim"} by ${formatTime(target)}`),
    h("span", { class: "breached-badge", "data-testid": "breached" }, "Breached"));
}

function contextCard(context) {
  if (!context) return h("p", { class: "context-card empty-context" }, "No customer context yet.");
  const entries = [
    ["Tier", context.tier ? capitalize(context.tier) : null],
    ["Lifetime value", context.lifetime_value != null ? money(context.lifetime_value, context.currency) : null],
    ["Last location", place(context.last_location)],
    ["Open cases", String(context.open_cases ?? 0)],
    ["Device", deviceText(context.device)],
    ["Sentiment", sentimentText(context.sentiment)],
    ["Engagement", context.engagement != null ? `${Math.round(context.engagement)} of 100` : null],
  ];
  return h("dl", { class: "context-card", "aria-label": "Customer context" },
    entries.map(([label, value]) =>
      h("div", { class: "fact" }, h("dt", {}, label), h("dd", { class: value ? "" : "unknown" }, value ?? "unknown"))));
}

function evidenceList(task) {
  const details = task.evidence_details?.length
    ? task.evidence_details
    : task.evidence.map((id) => ({ event_id: id, summary: `Event ${id}` }));
  return h("ul", { class: "evidence" },
    details.map((item) =>
      h("li", {},
        item.occurred_at
          ? h("span", { class: "evidence-when" },
            h("time", { datetime: item.occurred_at }, formatTime(item.occurred_at)),
            item.type ? ` · ${eventKind(item.type)}` : "")
          : null,
        h("span", { class: "evidence-summary" }, item.summary))));
}

// Why the rule fired: each clause of its condition, with what it read (the same explanation
// `ctxi rules explain` prints, made by the engine when it raised the task).
function conditions(task) {
  if (!task.conditions || !task.conditions.length) return null;
  return h("details", { class: "conditions", "data-testid": "conditions" },
    h("summary", {}, "Why this task"),
    h("p", { class: "help" }, `Rule ${task.rule_id} v${task.rule_version} fired: each of its conditions held.`),
    h("ol", {}, task.conditions.map((held) =>
      h("li", {},
        h("code", {}, held.clause),
        Object.keys(held.reads).length
          ? h("ul", { class: "reads" }, Object.entries(held.reads).map(([path, value]) =>
            h("li", {}, h("code", {}, path), ` = ${value}`)))
          : null))));
}

function breakdown(task) {
  const b = task.priority_breakdown;
  if (!b) return null;
  const factor = (name, value, help) =>
    h("div", { class: "fact" }, h("dt", {}, name), h("dd", {}, `${value}`), h("dd", { class: "help" }, help));
  return h("details", { class: "breakdown" },
    h("summary", {}, "Why this priority"),
    h("dl", {},
      factor("Base", b.base, "the rule's severity"),
      factor("× Value", b.value.toFixed(2), "tier and lifetime value"),
      factor("× Context", b.context.toFixed(2), "social reach and sentiment"),
      factor("× Urgency", b.urgency.toFixed(2), "how close the deadline is"),
      learned(b.learned, factor),
      b.engagement
        ? factor("× Engagement", b.engagement.factor.toFixed(2), `engagement ${Math.round(b.engagement.score)} of 100`)
        : null,
      escalated(task, factor),
      factor("= Priority", task.priority, "clamped to 0–100")));
}

// A rule with learn_priority: the factor, and the outcomes of its version it learned from.
function learned(l, factor) {
  if (!l) return null;
  const closed = l.completed + l.dismissed;
  const from = closed ? `${l.completed} of ${closed} closed tasks of this rule completed` : "no closed task of this rule yet";
  return factor("× Learned", l.factor.toFixed(2), from);
}

// The service level's escalation: the points its stages added, and how long the task had
// waited unclaimed when it last rose.
function escalated(task, factor) {
  const e = task.escalation;
  if (!e) return null;
  const waited = e.at * 1000 - queuedAt(task);
  return factor("+ Escalated", `+${e.points}`, `unclaimed for ${duration(waited)} (stage ${e.stage})`);
}

function claimState(task) {
  const holder = task.claimed_by;
  if (!holder && state.watching) return h("div", { class: "claim-state" }, h("p", { class: "claimed-by" }, "Unclaimed"));
  if (!holder) return h("div", { class: "claim-state" }, h("button", { type: "button", class: "claim", onclick: () => claim(task) }, "Claim"));
  const mine = holder === state.agent;
  return h("div", { class: "claim-state" },
    h("p", { class: `claimed-by${mine ? " mine" : ""}` }, mine ? "You have this task" : ["Claimed by ", h("strong", {}, holder)]));
}

function closeForms(task, typed) {
  return h("div", { class: "actions" },
    closeForm(task, "complete", "outcome", "Outcome", "What was done, e.g. customer confirmed the purchase",
      "Complete", typed),
    closeForm(task, "dismiss", "reason", "Reason", "Why no action is needed, e.g. handled by phone",
      "Dismiss", typed));
}

function closeForm(task, verb, field, label, placeholder, button, typed) {
  const id = `${verb}-${task.task_id}`;
  return h("form", {
    class: `close-form ${verb}`,
    onsubmit: (event) => {
      event.preventDefault();
      const value = event.target.elements[field].value.trim();
      if (value) close(task, verb, field, value);
    },
  },
  h("label", { for: id }, label),
  h("input", { id, name: field, required: true, placeholder, value: typed[field] ?? "", autocomplete: "off" }),
  h("button", { type: "submit", class: verb === "dismiss" ? "secondary" : "" }, button));
}

// --- actions ---------------------------------------------------------------------------

async function claim(task) {
  try {
    await call(`/api/tasks/${encodeURIComponent(task.task_id)}/claim`, { method: "POST" });
    notice(`You claimed “${task.title}”.`);
  } catch (error) {
    notice(error.status === 409 ? `Already claimed by ${error.body.claimed_by}.` : `Could not claim: ${error.message}`);
  }
  state.open.add(task.task_id); // the claimed task opens in full, with its outcome field
  await scheduleRefresh();
  const card = state.cards.get(task.task_id);
  if (card) toggle(card, task.task_id, true);
  // keep the keyboard where the work is: on the outcome field of the claimed task
  card?.querySelector("input")?.focus();
}

async function close(task, verb, field, value) {
  try {
    await call(`/api/tasks/${encodeURIComponent(task.task_id)}/${verb}`, { method: "POST", body: { [field]: value } });
    notice(verb === "complete" ? `Completed “${task.title}”: outcome sent.` : `Dismissed “${task.title}”.`);
  } catch (error) {
    notice(`Could not ${verb}: ${error.message}`);
  }
  scheduleRefresh();
}

// --- countdowns ------------------------------------------------------------------------

function tick() {
  const now = Date.now();
  let expired = false;
  for (const time of document.querySelectorAll("time.countdown")) {
    const left = new Date(time.dataset.deadline).getTime() - now;
    time.textContent = left >= 0 ? duration(left) : `overdue ${duration(left)}`;
    time.classList.toggle("urgent", left < URGENT_MINUTES * 60000);
    const label = time.parentElement.querySelector(".deadline-label");
    if (label) label.textContent = left >= 0 ? `${label.dataset.verb} in ` : `${label.dataset.verb} `;
  }
  for (const level of document.querySelectorAll(".service-level")) {
    level.classList.toggle("breached", new Date(level.dataset.slaDeadline).getTime() <= now);
  }
  for (const task of state.tasks) {
    if (new Date(task.expires_at).getTime() <= now) expired = true;
  }
  if (expired) {
    state.tasks = state.tasks.filter((t) => new Date(t.expires_at).getTime() > now);
    render();
  }
}

// --- start -----------------------------------------------------------------------------

// A token with customer_lookup opens any customer by id, email or phone (the caller on the line).
async function lookUp(event) {
  event.preventDefault();
  const identifier = event.target.elements.identifier.value.trim();
  if (!identifier) return;
  try {
    const found = await call(`/api/customers?identifier=${encodeURIComponent(identifier)}`);
    await openCustomer(call, found.customer_id, "", event.target.elements.identifier);
  } catch (error) {
    notice(error.status === 404 ? `No customer with the id or identifier “${identifier}”.` : `Could not look up: ${error.message}`);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("lookup-form").addEventListener("submit", lookUp);
  startSession(TOKEN_KEY, signIn, signOut);
  setInterval(tick, 1000);
});
