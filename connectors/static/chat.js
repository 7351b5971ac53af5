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

  // One-tap 有帮助/没帮助 under the latest answer. The tap sends the same words a typed reply
  // would, through the server's one feedback path; only the latest answer can be rated.
  var FEEDBACK = [
    { helpful: true, icon: "👍", text: "有帮助", label: "这个回答有帮助" },
    { helpful: false, icon: "👎", text: "没帮助", label: "这个回答没帮助" }
  ];
  function dropFeedback() {  // a newer message came: the old answer's buttons go
    Array.prototype.forEach.call(log.querySelectorAll(".feedback:not(.done):not(.busy)"), function (g) { g.remove(); });
  }
  function offerFeedback() {
    var g = document.createElement("div");
    g.className = "feedback";
    g.setAttribute("role", "group");
    g.setAttribute("aria-label", "这个回答对您有帮助吗？");
    var buttons = FEEDBACK.map(function (f) {
      var b = document.createElement("button");
      b.type = "button";
      b.className = "fb";
      b.setAttribute("aria-label", f.label);
      b.setAttribute("aria-pressed", "false");
      b.dataset.helpful = f.helpful ? "1" : "0";
      var icon = document.createElement("span");
      icon.setAttribute("aria-hidden", "true");
      icon.textContent = f.icon + " ";
      b.appendChild(icon);
      b.appendChild(document.createTextNode(f.text));
      b.addEventListener("click", function () { rate(g, buttons, b, f.helpful); });
      g.appendChild(b);
      return b;
    });
    log.appendChild(g);
    log.scrollTop = log.scrollHeight;
  }
  function rate(group, buttons, chosen, helpful) {
    if (group.classList.contains("done") || group.classList.contains("busy")) return;
    group.classList.add("busy");
    buttons.forEach(function (b) { b.disabled = true; });
    chosen.setAttribute("aria-pressed", "true");
    post(document.body.dataset.feedback, { helpful: helpful, client_id: cid() }).then(function (j) {
      group.classList.remove("busy");
      group.classList.add("done");  // rated (or too late to rate): the buttons stay disabled
      if (j.error) { chosen.setAttribute("aria-pressed", "false"); add(j.error, "bot"); return; }
      (j.replies || []).forEach(function (t) { add(t, j.counted ? "bot thanks" : "bot"); });
      showHandoff(!!j.handoff);
    }).catch(function () {
      group.classList.remove("busy");
      chosen.setAttribute("aria-pressed", "false");
      buttons.forEach(function (b) { b.disabled = false; });
      add("网络不太好，请稍后再点一次。", "bot");
    });
  }

  function send(text) {
    text = (text || "").trim();
    if (!text) return;
    dropFeedback();
    add(text, "me");
    input.value = "";
    sendBtn.disabled = true;
    var wait = add("正在思考…", "bot wait");
    post(document.body.dataset.send, { text: text, client_id: cid() }).then(function (j) {
      wait.remove();
      if (j.error) { add(j.error, "bot"); return; }
      (j.replies || []).forEach(function (t) { add(t, "bot"); });
      if (j.feedback) offerFeedback();
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
        if ((j.messages || []).length) dropFeedback();
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
