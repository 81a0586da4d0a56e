// The customer view: one customer as the live context holds them (not a task's snapshot), opened
// from a task or looked up, read again every quarter second while it is open (GET /api/customers/...).
// Every fact says where it came from and when. Texts go in with textContent (h), never as markup.
import {
  $, ago, capitalize, deviceText, eventKind, formatTime, h, money, place, sentimentText,
} from "./common.js";

const REFRESH_MS = 250; // a worker writes views every 0.25 s: an event shows well within a second

const SOURCE = {
  "social.checkin": "social check-in",
  "billing.card_transaction": "card transaction",
  "device.session": "device session",
};

let open = null; // {customerId, taskId, call, opener, timer, signature}

export async function openCustomer(call, customerId, taskId, opener) {
  closeCustomer(false);
  open = { customerId, taskId, call, opener, timer: null, signature: "" };
  const section = $("customer");
  section.hidden = false;
  section.replaceChildren(h("p", { class: "help" }, `Opening ${customerId}…`));
  await load();
  $("customer-title")?.focus();
}

export function closeCustomer(returnFocus = true) {
  if (!open) return;
  clearTimeout(open.timer);
  const { opener, taskId } = open;
  open = null;
  $("customer").hidden = true;
  $("customer").replaceChildren();
  if (!returnFocus) return;
  // the task's card may have been drawn again meanwhile (a revision): its new button then
  const back = opener?.isConnected ? opener
    : document.querySelector(`li.task[data-task-id="${CSS.escape(taskId)}"] .open-customer`);
  back?.focus();
}

async function load() {
  const current = open;
  if (!current) return;
  const task = current.taskId ? `?task=${encodeURIComponent(current.taskId)}` : "";
  try {
    const shown = await current.call(`/api/customers/${encodeURIComponent(current.customerId)}${task}`);
    if (open !== current) return; // closed or replaced while reading
    const signature = `${shown.view.written_at}|${shown.timeline.length}|${shown.open_tasks.length}|${shown.closed_tasks.length}`;
    if (signature !== current.signature) {
      current.signature = signature;
      render(shown);
    } else {
      $("customer-updated").textContent = updatedText(shown.view);
    }
  } catch (error) {
    if (open !== current) return;
    $("customer").replaceChildren(header(current.customerId),
      h("p", { class: "error", role: "alert" }, error.status === 404
        ? "This customer is not one you may see, or no worker has written their view yet."
        : `Could not load the customer: ${error.message}`));
  }
  if (open === current) current.timer = setTimeout(load, REFRESH_MS);
}

function updatedText(view) {
  return `Latest event ${view.as_of ? formatTime(view.as_of) : "unknown"} · written ${ago(view.written_at)}`;
}

function header(customerId, view) {
  return h("div", { class: "customer-head" },
    h("h2", { id: "customer-title", tabindex: "-1" }, `Customer ${customerId}`),
    view ? h("p", { id: "customer-updated", class: "help", "aria-live": "off" }, updatedText(view)) : null,
    h("button", { id: "customer-close", type: "button", class: "secondary", onclick: () => closeCustomer() },
      "Close customer"));
}

// A fact with where it came from and when: "Paris, FR · card transaction · Mar 3, 09:12 UTC".
function fact(label, value, source, at, testId) {
  return h("div", { class: "fact" },
    h("dt", {}, label),
    h("dd", { class: value ? "" : "unknown", "data-testid": testId }, value ?? "not known"),
    value && (source || at)
      ? h("dd", { class: "source" }, [source, at ? formatTime(at) : null].filter(Boolean).join(" · "))
      : null);
}

function engagementFacts(engagement) {
  const part = (value) => (value === null || value === undefined ? "not known" : `${Math.round(value * 100)} of 100`);
  const [emotional, behavioural, social] = engagement.weights;
  return h("div", { class: "engagement", "data-testid": "engagement" },
    h("p", { class: "engagement-score" }, h("strong", {}, `${Math.round(engagement.score)}`), " of 100"),
    h("dl", { class: "engagement-parts" },
      fact(`Emotional (weight ${emotional})`, part(engagement.emotional), "NPS and CSAT from the CRM profile"),
      fact(`Behavioural (weight ${behavioural})`, part(engagement.behavioural), "events in the last 30 days"),
      fact(`Social (weight ${social})`, part(engagement.social), "reach of the latest posts")));
}

function section(title, ...children) {
  return h("section", { class: "customer-section", "aria-label": title }, h("h3", {}, title), ...children);
}

function list(items, empty, item) {
  return items.length ? h("ul", { class: "customer-list" }, items.map((x) => h("li", {}, item(x)))) : h("p", { class: "help" }, empty);
}

// Re-rendered as the view changes: the element that had the focus (by id) gets it back.
function render(shown) {
  const focused = $("customer").contains(document.activeElement) ? document.activeElement.id : "";
  fill(shown);
  if (focused) $(focused)?.focus();
}

function fill(shown) {
  const { view, timeline } = shown;
  const profile = view.profile;
  const billing = view.billing || {};
  const location = view.location;
  const device = view.device;
  $("customer").replaceChildren(
    header(view.customer_id, view),
    h("div", { class: "customer-grid" },
      section("Who they are",
        h("dl", { class: "context-card" },
          fact("Tier", profile ? capitalize(profile.tier) : null, "CRM profile", profile?.as_of),
          fact("Lifetime value", profile ? money(profile.lifetime_value, profile.currency) : null, "CRM profile", profile?.as_of),
          fact("NPS · CSAT", profile && (profile.nps != null || profile.csat != null)
            ? `${profile.nps ?? "–"} · ${profile.csat ?? "–"}` : null, "CRM profile", profile?.as_of),
          fact("Prefers", profile?.preferred_channel ?? null, "CRM profile", profile?.as_of),
          fact("Sentiment", sentimentText(view.sentiment), "latest post or interaction"))),
      section("Engagement", engagementFacts(view.engagement)),
      section("Where and on what, now",
        h("dl", { class: "context-card" },
          fact("Last seen at", location ? place(location) : null, location ? SOURCE[location.source] : null, location?.at, "customer-location"),
          fact("Device", deviceText(device), "device session", device?.seen_at, "customer-device"))),
      section("Open cases", list(view.open_cases || [], "No open case.",
        (c) => `${c.subject} (${c.severity}, ${c.case_id}) · opened ${formatTime(c.opened_at)} · CRM`)),
      section("Travel", list(view.itineraries || [], "No booking kept.",
        (it) => `${it.booking_id}: ${it.segments.map((s) => `${s.flight} ${s.origin}→${s.destination} ${formatTime(s.departs_at)}`).join(", ")} · booked ${formatTime(it.booked_at)}`)),
      section("Billing",
        h("dl", { class: "context-card" },
          fact("Balance", billing.balance != null ? money(billing.balance, billing.currency) : null, "billing", billing.balance_as_of),
          fact("Upcoming debit", billing.upcoming_debit
            ? `${money(billing.upcoming_debit.amount, billing.currency)} to ${billing.upcoming_debit.payee} on ${billing.upcoming_debit.due_date}` : null,
            "billing", billing.balance_as_of),
          fact("Failed payments", (billing.payment_failures || []).length ? String(billing.payment_failures.length) : null,
            "billing", billing.payment_failures?.at(-1)?.at),
          fact("Open disputes", (billing.open_disputes || []).length ? String(billing.open_disputes.length) : null,
            "billing", billing.open_disputes?.at(-1)?.at))),
      section("Recent posts", list([...(view.posts || [])].reverse(), "No recent post.",
        (p) => `${p.network}, ${p.followers.toLocaleString("en-US")} followers, ${sentimentText(p.sentiment)}${p.mentions_brand ? ", mentions us" : ""} · ${formatTime(p.at)}`)),
      section("Their tasks",
        h("h4", {}, "Open"),
        list(shown.open_tasks, "No open task in your queues.",
          (t) => [h("strong", {}, `${t.priority}`), ` ${t.title} · ${t.queue}${t.claimed_by ? ` · claimed by ${t.claimed_by}` : ""}`]),
        h("h4", {}, "Last closed"),
        list(shown.closed_tasks, "None closed lately.",
          (c) => `${c.action}: ${c.outcome} by ${c.agent_id} (“${c.detail}”) · ${formatTime(c.at)}`)),
      section("What the rules keep", list(view.features || [], "No feature counts for this customer.",
        (f) => `${f.feature_id}: ${f.events} event${f.events === 1 ? "" : "s"}${f.last != null ? `, last ${f.last}` : ""}${f.latest_at ? ` · latest ${formatTime(f.latest_at)}` : ""}`))),
    section("Timeline",
      h("ol", { class: "timeline", "data-testid": "timeline", "aria-label": "Latest events, newest first" },
        timeline.map((item) =>
          h("li", { dataset: { eventId: item.event_id } },
            h("time", { datetime: item.occurred_at }, formatTime(item.occurred_at)),
            ` · ${eventKind(item.type)} · `,
            h("span", {}, item.summary))))),
  );
}

document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && open && $("customer").contains(document.activeElement)) closeCustomer();
});
