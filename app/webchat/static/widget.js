/*
 * ChatCommerce web chat widget: plain JavaScript, no build step.
 *
 * Embed:  <script src="https://YOUR-APP/webchat/widget.js" async
 *                 data-title="Shop assistant" data-anonymous-id="the shop's visitor id"></script>
 * Options (data- attributes): title, anonymous-id (continue the shop's own visitor),
 * target (a CSS selector: render inside that element instead of a floating button),
 * open ("true": start opened).
 *
 * Every piece of text from the server is set with textContent, never as HTML; links and images
 * must be http(s). The session token stays in this browser (localStorage) and is sent as a
 * header, or in the stream's query string, where EventSource cannot send headers.
 */
(function () {
  "use strict";

  var script = document.currentScript;
  if (!script || !script.src) return;
  var BASE = script.src.replace(/\/webchat\/widget\.js(?:[?#].*)?$/, "");
  var API = BASE + "/webchat/v1";
  var STORE_KEY = "chatcommerce.webchat:" + BASE;
  var options = {
    title: script.getAttribute("data-title") || "Shop assistant",
    anonymousId: script.getAttribute("data-anonymous-id") || null,
    target: script.getAttribute("data-target"),
    open: script.getAttribute("data-open") === "true",
  };
  var SENDERS = { shopper: "You", bot: "Assistant", human: "Shop team" };

  var CSS = [
    ":host { all: initial; font: 15px/1.45 system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; color: #1d2330; }",
    "* { box-sizing: border-box; }",
    ".cc-panel { display: flex; flex-direction: column; background: #fff; border: 1px solid #d5d9e2; border-radius: 12px; overflow: hidden; width: 100%; height: 100%; min-height: 320px; }",
    ".cc-floating .cc-panel { position: fixed; right: 20px; bottom: 88px; width: min(380px, calc(100vw - 40px)); height: min(600px, calc(100vh - 120px)); box-shadow: 0 12px 32px rgba(20, 30, 60, .2); z-index: 2147483000; }",
    ".cc-panel[hidden] { display: none; }",
    "header { display: flex; align-items: center; justify-content: space-between; gap: 8px; padding: 10px 14px; background: #23407a; color: #fff; }",
    "h2 { margin: 0; font-size: 16px; font-weight: 600; }",
    "button { font: inherit; cursor: pointer; }",
    "button:focus-visible, a:focus-visible, textarea:focus-visible, .cc-log:focus-visible { outline: 3px solid #f2b33d; outline-offset: 2px; }",
    ".cc-close { background: transparent; border: 0; color: #fff; font-size: 22px; line-height: 1; padding: 2px 8px; border-radius: 6px; }",
    ".cc-log { flex: 1; overflow-y: auto; padding: 14px; display: flex; flex-direction: column; gap: 10px; background: #f6f7fa; }",
    ".cc-msg { max-width: 88%; display: flex; flex-direction: column; gap: 6px; }",
    ".cc-msg.cc-shopper { align-self: flex-end; align-items: flex-end; }",
    ".cc-who { font-size: 12px; color: #5b6478; }",
    ".cc-text { margin: 0; padding: 8px 12px; border-radius: 14px; background: #fff; border: 1px solid #e1e4ec; white-space: pre-wrap; overflow-wrap: anywhere; }",
    ".cc-shopper .cc-text { background: #23407a; color: #fff; border-color: #23407a; }",
    ".cc-human .cc-text { border-color: #b98a1e; }",
    ".cc-cards { list-style: none; margin: 0; padding: 0; display: grid; grid-template-columns: repeat(auto-fill, minmax(140px, 1fr)); gap: 8px; width: 100%; }",
    ".cc-card { background: #fff; border: 1px solid #e1e4ec; border-radius: 10px; overflow: hidden; display: flex; flex-direction: column; }",
    ".cc-card img, .cc-noimage { width: 100%; aspect-ratio: 4 / 3; object-fit: cover; background: #e9ecf3; display: block; }",
    ".cc-noimage { display: flex; align-items: center; justify-content: center; font-size: 28px; color: #7b8499; }",
    ".cc-card-body { padding: 8px 10px; display: flex; flex-direction: column; gap: 4px; }",
    ".cc-card-name { margin: 0; font-weight: 600; font-size: 14px; }",
    ".cc-price { margin: 0; color: #2d5b2a; font-weight: 600; }",
    ".cc-card a { color: #23407a; font-size: 14px; }",
    ".cc-quick { display: flex; flex-wrap: wrap; gap: 6px; }",
    ".cc-quick button { background: #fff; color: #23407a; border: 1px solid #23407a; border-radius: 16px; padding: 4px 12px; }",
    ".cc-quick button:hover { background: #eaf0fb; }",
    ".cc-typing { min-height: 0; padding: 0 14px; font-size: 13px; color: #5b6478; background: #f6f7fa; }",
    ".cc-typing.cc-on { padding: 4px 14px 8px; }",
    ".cc-dots span { display: inline-block; width: 6px; height: 6px; margin-right: 3px; border-radius: 50%; background: #7b8499; animation: cc-blink 1.2s infinite; }",
    ".cc-dots span:nth-child(2) { animation-delay: .2s; } .cc-dots span:nth-child(3) { animation-delay: .4s; }",
    "@keyframes cc-blink { 0%, 80%, 100% { opacity: .25; } 40% { opacity: 1; } }",
    "@media (prefers-reduced-motion: reduce) { .cc-dots span { animation: none; } }",
    ".cc-notice { font-size: 13px; color: #8a3b12; padding: 0 14px; }",
    ".cc-notice:not(:empty) { padding: 6px 14px; background: #fff4e5; }",
    "form { display: flex; gap: 8px; align-items: flex-end; padding: 10px; border-top: 1px solid #e1e4ec; background: #fff; }",
    ".cc-field { flex: 1; display: flex; flex-direction: column; gap: 2px; }",
    "label { font-size: 12px; color: #5b6478; }",
    "textarea { font: inherit; width: 100%; resize: none; min-height: 40px; max-height: 140px; padding: 8px 10px; border: 1px solid #b9c0cf; border-radius: 8px; }",
    ".cc-send { background: #23407a; color: #fff; border: 0; border-radius: 8px; padding: 9px 16px; }",
    ".cc-send:disabled { opacity: .6; cursor: default; }",
    ".cc-launcher { position: fixed; right: 20px; bottom: 20px; z-index: 2147483000; background: #23407a; color: #fff; border: 0; border-radius: 28px; padding: 14px 20px; font-weight: 600; box-shadow: 0 6px 18px rgba(20, 30, 60, .25); }",
    ".cc-sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }",
  ].join("\n");

  // --- small helpers -------------------------------------------------------------------

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function webUrl(value) {
    if (typeof value !== "string" || !value) return null;
    try {
      var url = new URL(value, location.href);
      return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
    } catch (e) {
      return null;
    }
  }

  function price(amount, currency) {
    if (typeof amount !== "number") return null;
    if (currency) {
      try {
        return new Intl.NumberFormat(undefined, { style: "currency", currency: currency }).format(amount);
      } catch (e) {
        return amount.toFixed(2) + " " + currency;
      }
    }
    return amount.toFixed(2);
  }

  function newId() {
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function loadState() {
    try {
      var saved = JSON.parse(localStorage.getItem(STORE_KEY) || "null");
      return saved && saved.sessionId && saved.token ? saved : null;
    } catch (e) {
      return null;
    }
  }

  function saveState(state) {
    try {
      localStorage.setItem(STORE_KEY, JSON.stringify(state));
    } catch (e) {
      /* private mode: the session lasts as long as the page */
    }
  }

  function ApiError(status, detail, retryAfter) {
    this.status = status;
    this.detail = detail;
    this.retryAfter = retryAfter;
  }

  async function call(method, path, body, token) {
    var headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (token) headers.Authorization = "Bearer " + token;
    var response = await fetch(API + path, {
      method: method,
      headers: headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
    });
    var data = null;
    try {
      data = await response.json();
    } catch (e) {
      data = null;
    }
    if (!response.ok) {
      var detail = data && data.detail;
      if (Array.isArray(detail)) detail = detail.map(function (d) { return d.msg; }).join("; ");
      throw new ApiError(response.status, String(detail || response.statusText), Number(response.headers.get("Retry-After")) || 0);
    }
    return data;
  }

  // --- the window --------------------------------------------------------------------------

  var host = el("div");
  host.className = "chatcommerce-webchat";
  var root = host.attachShadow({ mode: "open" });
  var style = el("style");
  style.textContent = CSS;
  root.appendChild(style);
  var frame = el("div", options.target ? "cc-inline" : "cc-floating");
  root.appendChild(frame);

  var panel = el("section", "cc-panel");
  panel.id = "cc-panel";
  panel.setAttribute("aria-labelledby", "cc-title");
  var header = el("header");
  var title = el("h2", null, options.title);
  title.id = "cc-title";
  header.appendChild(title);
  var log = el("div", "cc-log");
  log.setAttribute("role", "log");
  log.setAttribute("aria-live", "polite");
  log.setAttribute("aria-relevant", "additions");
  log.setAttribute("aria-label", "Messages");
  log.tabIndex = 0;
  var typing = el("div", "cc-typing");
  typing.setAttribute("role", "status");
  typing.setAttribute("aria-live", "polite");
  var notice = el("div", "cc-notice");
  notice.setAttribute("role", "alert");
  var form = el("form");
  var field = el("div", "cc-field");
  var label = el("label", null, "Your message");
  label.htmlFor = "cc-input";
  var input = el("textarea");
  input.id = "cc-input";
  input.rows = 1;
  input.maxLength = 4000;
  input.placeholder = "Ask about a product or an order";
  input.setAttribute("autocomplete", "off");
  var sendButton = el("button", "cc-send", "Send");
  sendButton.type = "submit";
  field.appendChild(label);
  field.appendChild(input);
  form.appendChild(field);
  form.appendChild(sendButton);
  panel.appendChild(header);
  panel.appendChild(log);
  panel.appendChild(typing);
  panel.appendChild(notice);
  panel.appendChild(form);
  frame.appendChild(panel);

  var launcher = null;
  if (!options.target) {
    var close = el("button", "cc-close", "\u00d7");
    close.type = "button";
    close.setAttribute("aria-label", "Close chat");
    header.appendChild(close);
    launcher = el("button", "cc-launcher", "Chat with us");
    launcher.type = "button";
    launcher.setAttribute("aria-controls", "cc-panel");
    launcher.setAttribute("aria-expanded", "false");
    frame.appendChild(launcher);
    panel.hidden = true;
    launcher.addEventListener("click", function () { setOpen(panel.hidden); });
    close.addEventListener("click", function () { setOpen(false); });
    panel.addEventListener("keydown", function (event) {
      if (event.key === "Escape") setOpen(false);
    });
  }

  function setOpen(open) {
    panel.hidden = !open;
    launcher.setAttribute("aria-expanded", String(open));
    launcher.textContent = open ? "Close chat" : "Chat with us";
    if (open) {
      start();
      input.focus();
    } else {
      launcher.focus();
    }
  }

  function showNotice(text) {
    notice.textContent = text || "";
  }

  function setTyping(on) {
    typing.textContent = "";
    typing.classList.toggle("cc-on", !!on);
    if (!on) return;
    var dots = el("span", "cc-dots");
    dots.setAttribute("aria-hidden", "true");
    dots.appendChild(el("span"));
    dots.appendChild(el("span"));
    dots.appendChild(el("span"));
    typing.appendChild(dots);
    typing.appendChild(el("span", null, options.title + " is typing\u2026"));
  }

  // --- messages ----------------------------------------------------------------------------

  var shown = {};
  var lastSeq = 0;

  function renderCard(card) {
    var item = el("li", "cc-card");
    var image = webUrl(card.image_url);
    var placeholder = el("div", "cc-noimage", (card.name || "?").charAt(0).toUpperCase());
    placeholder.setAttribute("aria-hidden", "true");
    if (image) {
      var img = el("img");
      img.alt = card.name || "";
      img.loading = "lazy";
      img.referrerPolicy = "no-referrer";
      img.addEventListener("error", function () { img.replaceWith(placeholder); });
      img.src = image;
      item.appendChild(img);
    } else {
      item.appendChild(placeholder);
    }
    var body = el("div", "cc-card-body");
    body.appendChild(el("p", "cc-card-name", card.name));
    var cost = price(card.price, card.currency);
    if (cost) body.appendChild(el("p", "cc-price", cost));
    var link = webUrl(card.url);
    if (link) {
      var anchor = el("a", null, "View product");
      anchor.href = link;
      anchor.target = "_blank";
      anchor.rel = "noopener noreferrer";
      anchor.setAttribute("aria-label", "View " + (card.name || "product"));
      body.appendChild(anchor);
    }
    item.appendChild(body);
    return item;
  }

  function renderButtons(buttons) {
    var group = el("div", "cc-quick");
    group.setAttribute("role", "group");
    group.setAttribute("aria-label", "Quick replies");
    buttons.forEach(function (button) {
      var press = el("button", null, button.label);
      press.type = "button";
      press.addEventListener("click", function () {
        removeQuickReplies();
        input.focus();
        send({ payload: button.payload }, button.label);
      });
      group.appendChild(press);
    });
    return group;
  }

  function removeQuickReplies() {
    Array.prototype.forEach.call(log.querySelectorAll(".cc-quick"), function (group) { group.remove(); });
  }

  function render(entry) {
    if (!entry || typeof entry.seq !== "number" || shown[entry.seq]) return;
    shown[entry.seq] = true;
    lastSeq = Math.max(lastSeq, entry.seq);
    var from = SENDERS[entry.from] ? entry.from : "bot";
    var item = el("div", "cc-msg cc-" + from);
    item.setAttribute("data-seq", String(entry.seq));
    item.appendChild(el("span", "cc-who", from === "bot" ? options.title : SENDERS[from]));
    if (entry.created_at) item.title = new Date(entry.created_at).toLocaleString();
    if (entry.text) item.appendChild(el("p", "cc-text", entry.text));
    if (Array.isArray(entry.cards) && entry.cards.length) {
      var cards = el("ul", "cc-cards");
      cards.setAttribute("aria-label", "Products");
      entry.cards.forEach(function (card) { cards.appendChild(renderCard(card)); });
      item.appendChild(cards);
    }
    var later = null;
    Array.prototype.some.call(log.children, function (other) {
      if (Number(other.getAttribute("data-seq")) > entry.seq) {
        later = other;
        return true;
      }
      return false;
    });
    if (later) {
      log.insertBefore(item, later);
    } else {
      // Only the newest message's quick replies can be pressed.
      removeQuickReplies();
      if (Array.isArray(entry.buttons) && entry.buttons.length) item.appendChild(renderButtons(entry.buttons));
      log.appendChild(item);
      log.scrollTop = log.scrollHeight;
    }
    if (from !== "shopper") setTyping(false);
  }

  // --- the session ---------------------------------------------------------------------

  var state = null;
  var started = null;
  var source = null;
  var reconnectDelay = 2000;
  var reconnectTimer = null;
  var noticeTimer = null;
  var unsent = null; // {text, id}: a resend of the same words keeps its id, so it is stored once

  async function openSession(anonymousId) {
    var body = anonymousId ? { anonymous_id: anonymousId } : {};
    var created;
    try {
      created = await call("POST", "/sessions", body);
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 422 || !anonymousId) throw error;
      created = await call("POST", "/sessions", {}); // an id the API refuses: a new visitor
    }
    state = { sessionId: created.session_id, token: created.token, anonymousId: created.anonymous_id };
    saveState(state);
    return state;
  }

  function path(suffix) {
    return "/sessions/" + encodeURIComponent(state.sessionId) + suffix;
  }

  async function loadHistory() {
    log.setAttribute("aria-busy", "true"); // the history is not read out as new messages
    try {
      for (;;) {
        var page = await call("GET", path("/messages?after=" + lastSeq + "&limit=200"), undefined, state.token);
        page.messages.forEach(render);
        if (page.messages.length < 200) return;
      }
    } finally {
      log.setAttribute("aria-busy", "false");
    }
  }

  function start() {
    if (!started) {
      started = begin().catch(function (error) {
        started = null;
        showNotice("The chat is not available right now (" + (error.detail || error.message || error) + ").");
      });
    }
    return started;
  }

  async function begin() {
    state = loadState();
    if (!state || (options.anonymousId && state.anonymousId !== options.anonymousId)) {
      await openSession(options.anonymousId || (state && state.anonymousId));
    }
    try {
      await loadHistory();
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 401) throw error;
      await openSession(state.anonymousId); // the session is gone: a new one, same visitor
      await loadHistory();
    }
    connect();
  }

  function connect() {
    if (source) source.close();
    var url = API + path("/stream") + "?after=" + lastSeq + "&token=" + encodeURIComponent(state.token);
    source = new EventSource(url);
    source.addEventListener("message", function (event) {
      try {
        render(JSON.parse(event.data));
      } catch (e) {
        /* a malformed event is skipped */
      }
    });
    source.addEventListener("typing", function (event) {
      try {
        setTyping(JSON.parse(event.data).typing);
      } catch (e) {
        setTyping(false);
      }
    });
    source.addEventListener("open", function () {
      reconnectDelay = 2000;
      clearTimeout(noticeTimer);
      showNotice("");
    });
    source.addEventListener("error", function () {
      clearTimeout(noticeTimer);
      noticeTimer = setTimeout(function () { showNotice("Reconnecting\u2026"); }, 3000);
      if (source.readyState === EventSource.CLOSED) {
        // Refused (a session that is gone) or the server is down: check, then reopen.
        source.close();
        clearTimeout(reconnectTimer);
        reconnectTimer = setTimeout(recover, reconnectDelay);
        reconnectDelay = Math.min(reconnectDelay * 2, 30000);
      }
    });
  }

  async function recover() {
    try {
      try {
        await loadHistory();
      } catch (error) {
        if (!(error instanceof ApiError) || error.status !== 401) throw error;
        await openSession(state.anonymousId);
        await loadHistory();
      }
      connect();
    } catch (error) {
      reconnectTimer = setTimeout(recover, reconnectDelay);
      reconnectDelay = Math.min(reconnectDelay * 2, 30000);
    }
  }

  async function send(message, shownText, retried) {
    await start();
    var said = message.text !== undefined ? message.text : message.payload;
    if (!unsent || unsent.said !== said) unsent = { said: said, id: newId() };
    var body = { client_message_id: unsent.id };
    if (message.text !== undefined) body.text = message.text;
    else body.payload = message.payload;
    try {
      var accepted = await call("POST", path("/messages"), body, state.token);
      unsent = null;
      showNotice("");
      render({ seq: accepted.seq, from: "shopper", text: shownText, cards: [], buttons: [], created_at: new Date().toISOString() });
      return true;
    } catch (error) {
      if (error instanceof ApiError && error.status === 401 && !retried) {
        await openSession(state.anonymousId);
        connect();
        return send(message, shownText, true);
      }
      if (error instanceof ApiError && error.status === 429) {
        showNotice("You are sending messages quickly. Please wait " + (error.retryAfter || "a few") + " seconds and try again.");
      } else if (error instanceof ApiError && error.status === 422) {
        showNotice("That message could not be sent: " + error.detail);
        unsent = null;
      } else {
        showNotice("Your message was not sent. Check your connection and try again.");
      }
      return false;
    }
  }

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    var text = input.value;
    if (!text.trim()) return;
    sendButton.disabled = true;
    input.value = "";
    var ok = await send({ text: text }, text);
    if (!ok && !input.value) input.value = text;
    sendButton.disabled = false;
    input.focus();
  });

  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  // --- mount -------------------------------------------------------------------------------

  function mount() {
    var target = options.target ? document.querySelector(options.target) : document.body;
    if (!target) return;
    target.appendChild(host);
    if (options.target) start();
    else if (options.open) setOpen(true);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", mount);
  else mount();
})();
