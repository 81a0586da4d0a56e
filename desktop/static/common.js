// What the agent desktop and the supervisor page share: building elements, formatting times,
// calling the API with a token, following a queue's changes live, and signing in and out.
//
// Every text from a task is put in a page with textContent (h), never as markup.

const RECONNECT_MAX_MS = 10000;

export const $ = (id) => document.getElementById(id);

export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// --- times -----------------------------------------------------------------------------

const timeFormat = new Intl.DateTimeFormat(undefined, {
  month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", timeZoneName: "short",
});

export function formatTime(iso) {
  return timeFormat.format(new Date(iso));
}

export function duration(ms) {
  const total = Math.floor(Math.abs(ms) / 1000);
  const days = Math.floor(total / 86400);
  const hours = Math.floor((total % 86400) / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = total % 60;
  const pad = (n) => String(n).padStart(2, "0");
  if (days) return `${days}d ${hours}h ${pad(minutes)}m`;
  if (hours) return `${hours}h ${pad(minutes)}m ${pad(seconds)}s`;
  return `${minutes}m ${pad(seconds)}s`;
}

// A duration to the two largest units ("9h 25m", "4m 10s"): enough for a glance.
export function roughly(ms) {
  return duration(ms).split(" ").slice(0, 2).join(" ");
}

export function ago(iso) {
  const ms = Date.now() - new Date(iso).getTime();
  return ms < 60000 ? "just now" : `${roughly(ms)} ago`;
}

export function capitalize(text) {
  return text ? text[0].toUpperCase() + text.slice(1) : text;
}

// --- facts as agents read them ----------------------------------------------------------

// Money as task texts write it (rules/formatting.py): "USD 1,337.60", one format on every card.
const moneyFigure = new Intl.NumberFormat("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });

export function money(amount, currency) {
  const figure = moneyFigure.format(amount);
  return currency ? `${currency} ${figure}` : figure;
}

export function place(location) {
  if (!location) return null;
  const named = [location.city, location.country].filter(Boolean).join(", ");
  return named || `${location.lat.toFixed(3)}, ${location.lon.toFixed(3)}`;
}

export function sentimentText(score) {
  if (score === null || score === undefined) return null;
  const mood = score <= -0.3 ? "negative" : score >= 0.3 ? "positive" : "neutral";
  return `${mood} (${score.toFixed(2).replace("-", "−")})`;
}

// A session this recent means the customer is on that device now (the engine's
// CTXI_ENGINE__ON_PHONE_MINUTES, 30 by default); an older one is only where they were last.
const ON_NOW_MS = 30 * 60000;

export function deviceText(device) {
  if (!device || !(device.device_type || device.channel)) return null;
  const what = device.device_type
    ? `${capitalize(device.device_type)}${device.channel ? ` · ${device.channel}` : ""}`
    : capitalize(device.channel);
  if (!device.seen_at) return what;
  const since = Date.now() - new Date(device.seen_at).getTime();
  return since <= ON_NOW_MS ? `On now: ${what} (${ago(device.seen_at)})` : `Last seen on ${what} (${ago(device.seen_at)})`;
}

// An event type as an agent reads it: "billing.card_transaction" is "Card transaction (billing)".
export function eventKind(type) {
  const [source, ...name] = type.split(".");
  return name.length ? `${capitalize(name.join(" ").replaceAll("_", " "))} (${source})` : type;
}

// --- the API ---------------------------------------------------------------------------

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

export async function api(token, path, { method = "GET", body } = {}) {
  const headers = { Authorization: `Bearer ${token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(response.status, data.error || response.statusText, data);
  return data;
}

// Follow one queue's changes (Server-Sent Events read through fetch, so the token travels in
// a header and never in a URL) until `signal` aborts, reconnecting with a growing pause.
// onLive(true) once subscribed (anything that changed before is in a fresh listing), onLive(false)
// while away; onChange(notice) for each change; onUnauthorized() ends it.
async function followQueue(queue, token, signal, { onLive, onChange, onUnauthorized }) {
  let backoff = 500;
  while (!signal.aborted) {
    try {
      const response = await fetch(`/api/queues/${encodeURIComponent(queue)}/events`, {
        headers: { Authorization: `Bearer ${token}`, Accept: "text/event-stream" }, signal,
      });
      if (response.status === 401) return onUnauthorized();
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      let connected = false;
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        if (!connected) {
          connected = true;
          backoff = 500;
          onLive(true);
        }
        buffer += value;
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          for (const line of block.split("\n")) {
            if (line.startsWith("data:")) onChange(JSON.parse(line.slice(5)));
          }
        }
      }
    } catch (error) {
      if (signal.aborted) return;
    }
    onLive(false);
    await new Promise((resolve) => setTimeout(resolve, backoff));
    backoff = Math.min(backoff * 2, RECONNECT_MAX_MS);
  }
}

// Follow every one of `queues`, saying in the status pill whether all are connected ("Live");
// onConnected() each time one (re)connects, onChange(notice, queue) for each change. Returns
// the AbortController that stops them all.
export function followQueues(queues, token, { onConnected, onChange, onUnauthorized }) {
  const following = new AbortController();
  const live = new Map();
  for (const queue of queues) {
    followQueue(queue, token, following.signal, {
      onLive: (connected) => {
        live.set(queue, connected);
        const all = queues.every((q) => live.get(q));
        $("live").textContent = all ? "Live" : "Reconnecting…";
        $("live").classList.toggle("offline", !all);
        if (connected) onConnected();
      },
      onChange: (change) => onChange(change, queue),
      onUnauthorized,
    });
  }
  return following;
}

// Runs `run` one call at a time, and a call during a run queues exactly one more (which sees
// every change made until it starts): a page never shows an older reading after a newer one.
// The promise returned resolves once a run that started after the call has ended.
export function oneAtATime(run) {
  let running = null;
  let queued = null;
  const schedule = () => {
    if (!running) {
      running = run().finally(() => {
        running = null;
      });
      return running;
    }
    queued ??= running.then(() => {
      queued = null;
      return schedule();
    });
    return queued;
  };
  return schedule;
}

// --- signing in ------------------------------------------------------------------------

// The sign-in form, the sign-out button, and the token kept for the tab's life under
// `storageKey` (sessionStorage: gone when the tab closes). `signIn(token)` throws to refuse;
// `signOut(message)` ends the session (with showSignIn).
export function startSession(storageKey, signIn, signOut) {
  $("sign-in-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("sign-in-error").textContent = "";
    const token = $("token").value.trim();
    try {
      await signIn(token);
      sessionStorage.setItem(storageKey, token);
    } catch (error) {
      $("sign-in-error").textContent =
        error.status === 401 ? "That token is not valid." : `Could not sign in: ${error.message}`;
    }
  });
  $("sign-out").addEventListener("click", () => signOut());
  const saved = sessionStorage.getItem(storageKey);
  if (saved) signIn(saved).catch(() => signOut("Your session ended: sign in again."));
}

// Back to the sign-in form, with why, forgetting the kept token.
export function showSignIn(storageKey, message = "") {
  sessionStorage.removeItem(storageKey);
  $("session").hidden = true;
  $("sign-in").hidden = false;
  $("sign-in-error").textContent = message;
  $("token").value = "";
  $("token").focus();
}
