// Live log lines: every element with data-logs-ws (the Logs tab's panel, a prediction's "Log lines of
// this request") opens that WebSocket and appends the rows it sends, once each (rows carry their line's
// key; the socket's first rows may repeat what the page already shows). Pause holds new rows until
// Resume. Reconnects after a drop, asking for the lines of the seconds since it last heard from the
// socket (at most the server's 10 minutes) rather than the page's first cursor, which on a busy
// deployment is a page of lines the viewer already has; stops on 4403 (no longer allowed) and 4400
// (bad filter).
// In a file, not inline: the Content-Security-Policy runs no inline script.
(() => {
  if (window.berthLogs) return;  // loaded once per page, however many boxes follow
  window.berthLogs = true;
  const followed = new Map();  // element -> {socket, paused, held, closed, retry}

  function socketUrl(path) {
    return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + path;
  }

  function setState(box, text) {
    const state = box.querySelector(".log-state");
    if (state) state.textContent = text;
  }

  function append(box, html) {
    const list = box.querySelector(".log-lines");
    if (!list) return 0;
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 30;
    const template = document.createElement("template");
    template.innerHTML = html;
    let added = 0;
    for (const row of Array.from(template.content.children)) {
      const key = row.dataset.key;
      if (key && list.querySelector(`[data-key="${CSS.escape(key)}"]`)) continue;
      list.appendChild(row);
      added += 1;
    }
    if (added) {
      const empty = box.querySelector(".no-logs");
      if (empty) empty.remove();
      if (atBottom) list.scrollTop = list.scrollHeight;
    }
    return added;
  }

  const MAX_BACKLOG_S = 600;  // what the server replays at most (deployments/consumers/logs.py)

  // The socket's path for a reconnect: the lines since `heardAt` (and a little before), not `after`.
  function reconnectPath(path, heardAt) {
    const url = new URL(path, location.href);
    url.searchParams.delete("after");
    const seconds = Math.ceil((Date.now() - heardAt) / 1000) + 2;
    url.searchParams.set("backlog", String(Math.min(seconds, MAX_BACKLOG_S)));
    return {path: url.pathname + url.search, complete: seconds <= MAX_BACKLOG_S};
  }

  function follow(box) {
    if (followed.has(box)) return;
    const state = {socket: null, paused: false, held: [], closed: false, retry: 500, heardAt: null};
    followed.set(box, state);
    const open = () => {
      const again = state.heardAt === null ? null : reconnectPath(box.dataset.logsWs, state.heardAt);
      const socket = new WebSocket(socketUrl(again ? again.path : box.dataset.logsWs));
      state.socket = socket;
      socket.onopen = () => {
        state.retry = 500;
        state.heardAt = Date.now();
        box.dataset.live = "open";
        if (again && !again.complete) setState(box, "Reconnected after a long break: reload to see every line written meanwhile.");
      };
      socket.onmessage = (event) => {
        state.heardAt = Date.now();
        if (state.paused) {
          state.held.push(event.data);
          setState(box, `Paused; ${state.held.length} new batch${state.held.length === 1 ? "" : "es"} of lines held.`);
        } else {
          append(box, event.data);
        }
      };
      socket.onclose = (event) => {
        box.dataset.live = "closed";
        if (state.closed || !document.contains(box)) { followed.delete(box); return; }
        if (event.code === 4403) { setState(box, "Stopped: you may no longer see this deployment's logs."); return; }
        if (event.code === 4400) { setState(box, "Stopped: fix the filters to see new lines."); return; }
        setTimeout(open, state.retry);
        state.retry = Math.min(state.retry * 2, 10000);
      };
    };
    open();
  }

  function forget(box) {
    const state = followed.get(box);
    if (!state) return;
    state.closed = true;
    if (state.socket) state.socket.close();
    followed.delete(box);
  }

  function scan(root) {
    for (const box of Array.from(followed.keys())) if (!document.contains(box)) forget(box);
    const boxes = root.matches && root.matches("[data-logs-ws]") ? [root] : [];
    boxes.push(...root.querySelectorAll("[data-logs-ws]"));
    for (const box of boxes) {
      follow(box);
      const list = box.querySelector(".log-lines");
      if (list) list.scrollTop = list.scrollHeight;
    }
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest && event.target.closest(".log-pause");
    if (!button) return;
    const box = button.closest("[data-logs-ws]");
    const state = box && followed.get(box);
    if (!state) return;
    state.paused = !state.paused;
    button.setAttribute("aria-pressed", state.paused ? "true" : "false");
    button.textContent = state.paused ? "Resume" : "Pause";
    if (state.paused) {
      setState(box, "Paused; new lines are held until you resume.");
    } else {
      const held = state.held.splice(0);
      let added = 0;
      for (const html of held) added += append(box, html);
      setState(box, `Live; ${added} held line${added === 1 ? "" : "s"} added.`);
    }
  });

  document.addEventListener("htmx:load", (event) => scan(event.detail.elt));
  document.addEventListener("htmx:afterSwap", () => scan(document.body));
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", () => scan(document.body));
  } else {
    scan(document.body);
  }
})();
