(function () {
  "use strict";
  var log = document.getElementById("log");
  var form = document.getElementById("form");
  var input = document.getElementById("input");
  var sendBtn = document.getElementById("send");
  var big = document.getElementById("bigtext");
  var banner = document.getElementById("handoff");
  var after = 0;

  function add(text, who) {
    var d = document.createElement("div");
    d.className = "msg " + who;
    d.textContent = text;
    log.appendChild(d);
    log.scrollTop = log.scrollHeight;
    return d;
  }
  function setBig(on) {
    document.body.classList.toggle("big", on);
    big.setAttribute("aria-pressed", on ? "true" : "false");
    try { localStorage.setItem("mingbai.big", on ? "1" : "0"); } catch (e) {}
  }
  try { setBig(localStorage.getItem("mingbai.big") === "1"); } catch (e) {}
  big.addEventListener("click", function () { setBig(!document.body.classList.contains("big")); });

  function cid() {
    return (Date.now().toString(36) + Math.random().toString(36).slice(2, 10)).replace(/[^a-z0-9]/g, "");
  }
  function post(url, body) {
    return fetch(url, { method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) })
      .then(function (r) { return r.json().then(function (j) { j._status = r.status; return j; }); });
  }
  function showHandoff(on) { banner.hidden = !on; }

  function send(text) {
    text = (text || "").trim();
    if (!text) return;
    add(text, "me");
    input.value = "";
    sendBtn.disabled = true;
    var wait = add("正在思考…", "bot wait");
    post(document.body.dataset.send, { text: text, client_id: cid() }).then(function (j) {
      wait.remove();
      if (j.error) { add(j.error, "bot"); return; }
      (j.replies || []).forEach(function (t) { add(t, "bot"); });
      showHandoff(!!j.handoff);
    }).catch(function () {
      wait.remove();
      add("网络不太好，请稍后再发一次。", "bot");
    }).then(function () { sendBtn.disabled = false; input.focus(); });
  }

  form.addEventListener("submit", function (e) { e.preventDefault(); send(input.value); });
  input.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); send(input.value); }
  });
  Array.prototype.forEach.call(document.querySelectorAll(".quick .chip"), function (b) {
    b.addEventListener("click", function () { send(b.getAttribute("data-text")); });
  });

  function poll() {
    fetch(document.body.dataset.poll + "?after=" + after, { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (j) {
        (j.messages || []).forEach(function (m) {
          after = Math.max(after, m.id);
          add(m.text, m.author && m.author.indexOf("staff") === 0 ? "staff" : "bot");
        });
        showHandoff(!!j.handoff);
      })
      .catch(function () {})
      .then(function () { setTimeout(poll, document.hidden ? 8000 : 2500); });
  }
  poll();
})();
