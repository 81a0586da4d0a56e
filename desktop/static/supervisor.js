// The ctxi supervisor page: sign in with a supervisor token, and watch the supervised queues
// live: a tile per queue (what waits, the oldest wait, the last hour's service level), the tasks
// past their deadline most urgent first, the agents, and how agents treat each rule's tasks.
//
// The figures are read from /api/supervisor/ when a followed queue changes and every few
// seconds besides: a task breaches with the passing of time, which no event announces.
import {
  $, api, capitalize, duration, followQueues, formatTime, h, oneAtATime, roughly, showSignIn, startSession,
} from "./common.js";

const TOKEN_KEY = "ctxi.supervisor-token"; // apart from the desktop's: both can be open in one browser
const READ_EVERY_MS = 5000;
const READ_GAP_MS = 1000; // a busy queue's changes are read together, at most once a second
const ALERTS_KEPT = 8;

const state = {
  token: null,
  supervisor: null,
  queues: [],
  following: null, // AbortController of the live streams
  reading: null, // the interval that reads the figures again
  readAt: 0, // when the figures shown were read (Date.now())
  breached: null, // task ids past a deadline at the last reading (null before the first)
  escalated: [], // escalation notices, named once the next reading has their task
};

const timeOfDay = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });

function seconds(value) {
  return value === null || value === undefined ? "–" : roughly(value * 1000);
}

// The API with this session's token; a token no longer accepted ends the session.
async function call(path) {
  try {
    return await api(state.token, path);
  } catch (error) {
    if (error.status === 401 && state.supervisor) signOut("Your token is no longer accepted: sign in again.");
    throw error;
  }
}

// --- signing in and out ------------------------------------------------------------------

async function signIn(token) {
  const me = await api(token, "/api/me");
  if (me.role !== "supervisor") throw new Error("this page needs a supervisor token; agents work from the desktop");
  Object.assign(state, { token, supervisor: me.agent_id, queues: me.queues, breached: null, escalated: [] });
  $("supervisor-id").textContent = me.agent_id;
  $("sign-in").hidden = true;
  $("session").hidden = false;
  $("floor").hidden = false;
  $("alerts").replaceChildren();
  $("no-alerts").hidden = false;
  follow();
  state.reading = setInterval(scheduleRead, READ_EVERY_MS);
  await scheduleRead();
}

function signOut(message = "") {
  state.following?.abort();
  clearInterval(state.reading);
  Object.assign(state, { token: null, supervisor: null, queues: [], following: null, reading: null });
  $("floor").hidden = true;
  showSignIn(TOKEN_KEY, message);
}

// --- live updates ----------------------------------------------------------------------

function follow() {
  state.following?.abort();
  state.following = followQueues(state.queues, state.token, {
    onConnected: scheduleRead,
    onChange: (change, queue) => {
      if (change.change === "escalated") state.escalated.push({ ...change, queue });
      scheduleRead();
    },
    onUnauthorized: () => signOut("Your token is no longer accepted: sign in again."),
  });
}

const scheduleRead = oneAtATime(async () => {
  await read();
  await new Promise((resolve) => setTimeout(resolve, READ_GAP_MS));
});

async function read() {
  if (!state.supervisor) return;
  try {
    const [queues, breaches, agents, rules] = await Promise.all(
      ["queues", "breaches", "agents", "rules"].map((part) => call(`/api/supervisor/${part}`)),
    );
    state.readAt = Date.now();
    renderTiles(queues.queues);
    renderBreaches(breaches.tasks, breaches.total);
    renderAgents(agents.agents);
    renderRules(rules.queues);
    $("updated").textContent =
      `Read at ${timeOfDay.format(state.readAt)}, and again as tasks change and every ${READ_EVERY_MS / 1000} s. ` +
      `Claim and resolve times, and claims in time, cover the last ${seconds(queues.window_seconds)}.`;
    tick();
  } catch (error) {
    if (state.supervisor) $("updated").textContent = `Could not read the figures: ${error.message}`;
  }
}

// --- rendering -------------------------------------------------------------------------

function fact(label, value, testId) {
  return h("div", { class: "fact", "data-testid": testId }, h("dt", {}, label), h("dd", {}, value));
}

function renderTiles(queues) {
  $("tiles").replaceChildren(...queues.map((q, index) =>
    h("li", {
      class: `tile${q.breached ? " breaching" : ""}`, dataset: { queue: q.queue }, "aria-labelledby": `tile-${index}`,
    },
    h("h3", { id: `tile-${index}` }, capitalize(q.queue)),
    h("dl", {},
      fact("Waiting", q.backlog, "backlog"),
      fact("Claimed", q.claimed, "claimed"),
      fact("Oldest wait", q.backlog
        ? h("span", { class: "ticking", dataset: { since: state.readAt - q.oldest_waiting_seconds * 1000 } })
        : "–", "oldest-wait"),
      fact("Claimed in time", q.sla_attainment === null ? "–" : `${Math.round(q.sla_attainment * 100)}%`,
        "attainment"),
      fact("Claim p50 / p90", `${seconds(q.claim_p50_seconds)} / ${seconds(q.claim_p90_seconds)}`, "claim-times"),
      fact("Resolve p50", seconds(q.resolve_p50_seconds), "resolve-time"),
      fact("Breached", q.breached, "breached")))));
}

function renderBreaches(tasks, total) {
  alertOnChanges(tasks, total);
  $("breach-count").textContent = total ? `(${total})` : "";
  $("no-breaches").hidden = tasks.length > 0;
  // the gateway sends the most urgent page; the rest is counted, not sent
  $("more-breaches").hidden = total <= tasks.length;
  $("more-breaches").textContent = `The ${tasks.length} most urgent of ${total} are shown.`;
  $("breaches").replaceChildren(...tasks.map((task) => {
    const titleId = `breach-${task.task_id}`;
    return h("li", {
      class: "breach", dataset: { taskId: task.task_id, queue: task.queue }, "aria-labelledby": titleId,
    },
    h("div", { class: `priority band-${task.band}`, "aria-label": `Priority ${task.priority}, ${task.band}` },
      h("span", { class: "priority-number", "data-testid": "priority" }, task.priority),
      h("span", { class: "priority-band" }, task.band)),
    h("div", { class: "breach-summary" },
      h("h3", { id: titleId }, task.title),
      h("p", { class: "meta" },
        h("span", { class: `queue-tag queue-${task.queue}` }, task.queue),
        h("span", { class: "customer" }, task.customer_id),
        h("span", { class: "holder" }, task.claimed_by ? `claimed by ${task.claimed_by}` : "unclaimed"),
        task.escalation
          ? h("span", { class: "escalation" }, `escalated to stage ${task.escalation.stage}, +${task.escalation.points}`)
          : null)),
    h("div", { class: "deadline" },
      h("span", {}, `${task.breached === "claim" ? "Claim" : "Resolve"} by ${formatTime(task.deadline)}`),
      h("time", { class: "overdue", datetime: task.deadline, dataset: { deadline: task.deadline } })));
  }));
}

// Said in the alerts (a polite live region): what is breaching at sign-in, a task that breached
// since the last reading, and an escalation announced on a followed queue.
function alertOnChanges(tasks, total) {
  if (state.breached === null && total > 0) {
    const [first] = tasks;
    const many = total === 1 ? "1 task was" : `${total} tasks were`;
    addAlert("breach", `${many} breaching when you signed in; the most urgent: “${first.title}” (${first.queue}).`);
  } else if (state.breached !== null) {
    for (const task of tasks) {
      if (!state.breached.has(task.task_id)) {
        const missed = task.breached === "claim" ? "not claimed" : "not resolved";
        addAlert("breach", `Breached: “${task.title}” (${task.queue}), ${missed} by ${formatTime(task.deadline)}.`);
      }
    }
  }
  state.breached = new Set(tasks.map((task) => task.task_id));
  for (const notice of state.escalated.splice(0)) {
    const task = tasks.find((t) => t.task_id === notice.task_id);
    const named = task ? `“${task.title}”` : `task ${notice.task_id}`;
    addAlert("escalation", `Escalated: ${named} (${notice.queue}) to stage ${notice.stage}, +${notice.points} priority.`);
  }
}

function addAlert(kind, text) {
  const list = $("alerts");
  list.prepend(h("li", { class: `alert ${kind}` }, h("time", {}, timeOfDay.format(Date.now())), " ", text));
  while (list.children.length > ALERTS_KEPT) list.lastChild.remove();
  $("no-alerts").hidden = true;
}

function renderAgents(agents) {
  $("no-agents").hidden = agents.length > 0;
  $("agents").hidden = agents.length === 0;
  $("agents").tBodies[0].replaceChildren(...agents.map((agent) =>
    h("tr", { dataset: { agent: agent.agent_id } },
      h("th", { scope: "row" }, agent.agent_id),
      h("td", { class: "number" }, agent.claimed),
      h("td", { class: "number" }, agent.completed),
      h("td", { class: "number" }, agent.dismissed),
      h("td", { class: "number" }, seconds(agent.median_handle_seconds)),
      h("td", {}, agent.current_tasks.length ? agent.current_tasks.map((t) => t.title).join("; ") : "–"))));
}

function renderRules(queues) {
  $("rules").replaceChildren(...queues.map((queue, index) => {
    const captionId = `rules-${index}`;
    if (!queue.rules.length) {
      return h("p", { class: "empty" }, `${capitalize(queue.queue)}: no open task and no close in the last hour.`);
    }
    return h("div", { class: "table-wrap" },
      h("table", { class: "figures rules", dataset: { queue: queue.queue }, "aria-labelledby": captionId },
        h("caption", { id: captionId }, capitalize(queue.queue)),
        h("thead", {}, h("tr", {},
          ["Rule", "Open", "Completed", "Dismissed", "Fired after close", "Most given reason", "Claim p50",
            "Resolve p50", ""].map(
            (label, column) => h("th", { scope: "col", class: [1, 2, 3, 4, 6, 7].includes(column) ? "number" : null },
              label || h("span", { class: "visually-hidden" }, "Flag"))))),
        h("tbody", {}, queue.rules.map((rule) =>
          h("tr", { dataset: { rule: rule.rule_id, version: rule.rule_version } },
            h("th", { scope: "row" }, `${rule.rule_id} v${rule.rule_version}`),
            h("td", { class: "number" }, rule.open),
            h("td", { class: "number" }, rule.completed),
            h("td", { class: "number" }, rule.dismissed),
            // fired again inside the cool-down of a task an agent had closed: kept with it, not reopened
            h("td", { class: "number", "data-testid": "kept-closed" }, rule.kept_closed),
            h("td", {}, rule.top_dismissal_reasons.length
              ? `${rule.top_dismissal_reasons[0].reason} (${rule.top_dismissal_reasons[0].count})` : "–"),
            h("td", { class: "number" }, seconds(rule.claim_p50_seconds)),
            h("td", { class: "number" }, seconds(rule.resolve_p50_seconds)),
            h("td", {}, rule.not_useful ? h("span", { class: "not-useful", "data-testid": "not-useful" }, "Not useful")
              : null))))));
  }));
}

// --- clocks ----------------------------------------------------------------------------

function tick() {
  const now = Date.now();
  for (const wait of document.querySelectorAll(".ticking")) wait.textContent = duration(now - Number(wait.dataset.since));
  for (const time of document.querySelectorAll("time.overdue")) {
    time.textContent = `overdue ${duration(now - new Date(time.dataset.deadline).getTime())}`;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  startSession(TOKEN_KEY, signIn, signOut);
  setInterval(tick, 1000);
});
