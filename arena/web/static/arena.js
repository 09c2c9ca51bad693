/* Arena's pages: plots drawn as SVG, replays stepped move by move, and games against an agent. Hand-written, no
   library; every request goes to the server that served the page. Text from the data is set with textContent. */
"use strict";
(function () {
  const NS = "http://www.w3.org/2000/svg";
  const data = JSON.parse(document.getElementById("data").textContent);
  const page = document.body.dataset.page;

  function el(tag, attrs, parent, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  }

  function svg(tag, attrs, parent, text) {
    const node = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  }

  async function api(path, body) {
    const options = body === undefined ? {} : {
      method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)};
    const response = await fetch(path, options);
    const doc = await response.json();
    if (!response.ok) throw new Error(doc.error || ("HTTP " + response.status));
    return doc;
  }

  function showError(error) {
    const box = document.getElementById("play-error");
    if (!box) return;
    box.hidden = !error;
    box.textContent = error ? String(error.message || error) : "";
  }

  function ticks(lo, hi, count) {
    const step = Math.pow(10, Math.floor(Math.log10((hi - lo) / count || 1)));
    const nice = [1, 2, 5, 10].map(m => m * step).find(s => (hi - lo) / s <= count) || step * 10;
    const out = [];
    for (let v = Math.ceil(lo / nice) * nice; v <= hi + 1e-9; v += nice) out.push(Math.round(v * 1e6) / 1e6);
    return out;
  }

  /* A line plot: series of {name, cls, points: [[x, y]], band: [[x, lo, hi]], markers: [{x, y, title, href}]}. */
  function plot(node, series, xlabel, ylabel) {
    while (node.firstChild) node.removeChild(node.firstChild);
    const width = +node.getAttribute("width"), height = +node.getAttribute("height");
    const m = {left: 56, right: 150, top: 12, bottom: 40};
    const xs = [], ys = [];
    for (const s of series) {
      for (const [x, y] of s.points) { xs.push(x); ys.push(y); }
      for (const [x, lo, hi] of s.band || []) { xs.push(x); ys.push(lo, hi); }
    }
    if (!xs.length) {
      svg("text", {x: 20, y: 30, class: "empty"}, node, "Nothing to plot yet.");
      return;
    }
    let [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
    if (x0 === x1) { x0 -= 1; x1 += 1; }
    if (y0 === y1) { y0 -= 1; y1 += 1; }
    const pad = (y1 - y0) * 0.05; y0 -= pad; y1 += pad;
    const X = x => m.left + (x - x0) / (x1 - x0) * (width - m.left - m.right);
    const Y = y => height - m.bottom - (y - y0) / (y1 - y0) * (height - m.top - m.bottom);
    const axes = svg("g", {class: "axes"}, node);
    svg("line", {x1: m.left, x2: width - m.right, y1: height - m.bottom, y2: height - m.bottom}, axes);
    svg("line", {x1: m.left, x2: m.left, y1: m.top, y2: height - m.bottom}, axes);
    for (const t of ticks(y0, y1, 6)) {
      svg("line", {x1: m.left - 4, x2: width - m.right, y1: Y(t), y2: Y(t), class: "grid"}, axes);
      svg("text", {x: m.left - 6, y: Y(t) + 4, "text-anchor": "end"}, axes, String(t));
    }
    const whole = xs.every(Number.isInteger);  // rounds, game numbers: no tick between two of them
    for (const t of ticks(x0, x1, 8).filter(t => Number.isInteger(t) || !whole)) {
      svg("text", {x: X(t), y: height - m.bottom + 16, "text-anchor": "middle"}, axes, String(t));
    }
    svg("text", {x: (m.left + width - m.right) / 2, y: height - 6, "text-anchor": "middle"}, axes, xlabel);
    svg("text", {x: 12, y: (m.top + height - m.bottom) / 2, "text-anchor": "middle",
                 transform: `rotate(-90 12 ${(m.top + height - m.bottom) / 2})`}, axes, ylabel);
    series.forEach((s, i) => {
      const g = svg("g", {class: "series s" + (i % 6) + " " + (s.cls || "")}, node);
      if (s.band && s.band.length) {
        const upper = s.band.map(([x, , hi]) => `${X(x)},${Y(hi)}`);
        const lower = s.band.slice().reverse().map(([x, lo]) => `${X(x)},${Y(lo)}`);
        svg("polygon", {points: upper.concat(lower).join(" "), class: "band"}, g);
      }
      if (s.points.length) {
        svg("path", {d: "M" + s.points.map(([x, y]) => `${X(x)},${Y(y)}`).join("L"), class: "line"}, g);
      }
      for (const mk of s.markers || []) {
        const dot = svg("circle", {cx: X(mk.x), cy: Y(mk.y), r: 3, class: "marker"}, g);
        svg("title", {}, dot, mk.title);
        if (mk.href) dot.addEventListener("click", () => { window.location.href = mk.href; });
      }
      svg("text", {x: width - m.right + 8, y: m.top + 14 + 16 * i, class: "legend"}, g, s.name);
    });
  }

  /* A board: cells[r][c] is 0, 1 (seat 0) or 2 (seat 1); `legal` moves carry a column or a cell to click. */
  function drawBoard(container, board, legal, onMove) {
    container.textContent = "";
    if (!board) return;
    const grid = el("div", {class: "grid " + board.kind, role: "grid"}, container);
    board.cells.forEach((row, r) => row.forEach((value, c) => {
      const cell = el("div", {class: "cell p" + value, "data-row": r, "data-col": c}, grid);
      const move = (legal || []).find(mv => board.kind === "connect_four" ? mv.column === c
        : mv.cell && mv.cell[0] === r && mv.cell[1] === c);
      if (move && onMove) {
        cell.classList.add("legal");
        cell.title = move.text;
        cell.addEventListener("click", () => onMove(move.action));
      }
    }));
  }

  function drawMoves(list, moves) {
    list.textContent = "";
    for (const mv of moves) el("li", {value: mv.ply, class: "seat" + mv.seat}, list, `${mv.player}: ${mv.text}`);
    list.scrollTop = list.scrollHeight;
  }

  function drawResult(box, result) {
    box.hidden = !result;
    box.textContent = "";
    if (!result) return;
    el("strong", {}, box, "Result: ");
    result.forEach((r, i) => {
      const text = `${r.player} (seat ${r.seat}) ${r.outcome || ""} ${r.score}` + (r.forfeit ? ` (forfeit: ${r.forfeit})` : "");
      el("span", {class: "outcome " + (r.outcome || "")}, box, text + (i < result.length - 1 ? " · " : ""));
    });
  }

  function drawPosition(position, legal, onMove) {
    drawBoard(document.getElementById("board"), position && position.board, legal, onMove);
    const text = document.getElementById("state-text");
    const shown = position && !position.board ? position.text : null;
    text.hidden = !shown && !(position && position.hidden);
    text.textContent = shown || (position && position.hidden ? "(hidden until the end of the game)" : "");
  }

  // -- pages ---------------------------------------------------------------------------------------------------------
  function playerPage() {
    const node = document.getElementById("rating-plot");
    const picker = document.getElementById("plot-env");
    if (!node || !picker) return;
    const draw = () => {
      const rows = data.history.filter(h => h.env === picker.value);
      const points = rows.map((h, i) => [i + 1, h.mu]);
      plot(node, [{
        name: "μ ± σ", points,
        band: rows.map((h, i) => [i + 1, h.mu - h.sigma, h.mu + h.sigma]),
        markers: rows.map((h, i) => ({x: i + 1, y: h.mu, href: "/replay/" + h.match,
                                     title: `game ${i + 1} (#${h.seq}) ${h.played_at.slice(0, 19)}: μ ${h.mu.toFixed(2)}, σ ${h.sigma.toFixed(2)}`})),
      }], "rated games", "TrueSkill μ");
    };
    picker.addEventListener("change", draw);
    draw();
  }

  function mean(values) { return values.length ? values.reduce((a, b) => a + b, 0) / values.length : null; }

  async function leaguePage() {
    const name = data.league;
    const table = document.querySelector("#rounds tbody");
    const node = document.getElementById("league-plot");
    const draw = async () => {
      const rounds = await api(`/api/league/${encodeURIComponent(name)}/rounds`);
      table.textContent = "";
      const series = {};
      for (const r of rounds) {
        const tr = el("tr", {}, table);
        el("td", {class: "num"}, tr, String(r.round));
        el("td", {}, tr, r.phase);
        const training = r.training || {}, evaluation = r.evaluation || {};
        el("td", {}, tr, Object.entries(training).map(([who, opp]) => `${who}: ` + Object.entries(opp)
          .map(([o, [s, n]]) => `${o} ${s.toFixed(2)} (${n})`).join(", ")).join("; "));
        el("td", {}, tr, Object.entries(evaluation).map(([who, opp]) => `${who}: ` + Object.entries(opp)
          .map(([o, s]) => `${o} ${s.toFixed(2)}`).join(", ")).join("; "));
        el("td", {}, tr, (r.at || "").slice(0, 19).replace("T", " "));
        for (const [who, opp] of Object.entries(training)) {
          const pairs = Object.values(opp), games = pairs.reduce((a, [, n]) => a + n, 0);
          if (games) (series[who + " training"] ||= []).push([r.round, pairs.reduce((a, [s, n]) => a + s * n, 0) / games]);
        }
        for (const [who, opp] of Object.entries(evaluation)) {
          const m = mean(Object.values(opp));
          if (m !== null) (series[who + " evaluation"] ||= []).push([r.round, m]);
        }
      }
      plot(node, Object.entries(series).map(([n, points]) => ({name: n, points, cls: n.endsWith("evaluation") ? "eval" : "train",
        markers: points.map(([x, y]) => ({x, y, title: `${n}, round ${x}: ${y.toFixed(3)}`}))})), "round", "mean score");
      const exploitNode = document.getElementById("league-exploitability");
      if (exploitNode) {  // [evaluation] exploitability: one line per learner
        const curves = {};
        for (const r of rounds) {
          for (const [who, e] of Object.entries(r.exploitability || {})) (curves[who] ||= []).push([r.round, e]);
          for (const [who, e] of Object.entries(r.exploitability_average || {})) (curves[who + " average"] ||= []).push([r.round, e]);
        }
        plot(exploitNode, Object.entries(curves).map(([n, points]) => ({name: n, points,
          markers: points.map(([x, y]) => ({x, y, title: `${n}, round ${x}: exploitability ${y.toFixed(4)}`}))})),
          "round", "exploitability");
      }
    };
    await draw();
    if (data.status !== "running") return;
    const every = Math.min(60, Math.max(1, +new URLSearchParams(window.location.search).get("refresh") || 5));
    const timer = setInterval(async () => {
      try {
        const doc = await api(`/api/league/${encodeURIComponent(name)}`);
        document.getElementById("league-rounds").textContent = String(doc.rounds);
        document.getElementById("league-matches").textContent = String(doc.matches);
        document.getElementById("league-status").dataset.status = doc.status;
        await draw();
        if (doc.status !== "running") { clearInterval(timer); window.location.reload(); }
      } catch (e) { /* the next poll tries again */ }
    }, every * 1000);
  }

  function replayPage() {
    let ply = data.ply;
    const slider = document.getElementById("ply-slider");
    const show = async (k) => {
      ply = Math.max(0, Math.min(data.plies, k));
      const doc = await api(`/api/replay/${encodeURIComponent(data.id)}?ply=${ply}`);
      document.getElementById("ply").textContent = String(doc.ply);
      slider.value = doc.ply;
      drawPosition(doc.position, [], null);
      drawMoves(document.getElementById("moves"), doc.moves);
      drawResult(document.getElementById("result"), doc.result);
      document.body.dataset.ply = String(doc.ply);
    };
    document.getElementById("first").addEventListener("click", () => show(0));
    document.getElementById("prev").addEventListener("click", () => show(ply - 1));
    document.getElementById("next").addEventListener("click", () => show(ply + 1));
    document.getElementById("last").addEventListener("click", () => show(data.plies));
    slider.addEventListener("input", () => show(+slider.value));
    document.addEventListener("keydown", (e) => {
      if (e.key === "ArrowRight") show(ply + 1);
      if (e.key === "ArrowLeft") show(ply - 1);
    });
    drawPosition(data.position, [], null);
    drawMoves(document.getElementById("moves"), data.moves);
    drawResult(document.getElementById("result"), data.result);
    document.body.dataset.ply = String(ply);
  }

  function playForm() {
    const form = document.getElementById("play-form");
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const f = new FormData(form);
      try {
        const doc = await api("/api/play", {env: f.get("env"), opponent: f.get("opponent"), seat: +f.get("seat"),
                                            name: f.get("name")});
        window.location.href = "/play/" + doc.id;
      } catch (error) { showError(error); }
    });
  }

  function gamePage() {
    let state = data;
    const render = () => {
      const turn = document.getElementById("turn");
      turn.textContent = state.over ? "Game over." + (state.error ? " " + state.error : "")
        : state.thinking ? "The agent is thinking…" : `Your move (you are seat ${state.seat}, ${state.players[state.seat]}).`;
      document.body.dataset.over = String(state.over);
      const legal = state.over ? [] : state.legal;
      drawPosition(state.position, legal, move);
      const list = document.getElementById("legal");
      list.textContent = "";  // the moves by name, where no board takes clicks
      document.getElementById("legal-box").hidden = !legal.length || !!(state.position && state.position.board);
      for (const mv of legal) {
        const button = el("button", {class: "move", "data-action": mv.action}, el("li", {}, list), mv.text);
        button.addEventListener("click", () => move(mv.action));
      }
      drawMoves(document.getElementById("moves"), state.moves || []);
      drawResult(document.getElementById("result"), state.result);
      const save = document.getElementById("save");
      save.hidden = !(state.over && state.result && !state.stored);
      if (state.stored) {
        const saved = document.getElementById("saved");
        saved.textContent = "Stored as a rated match: ";
        el("a", {href: "/replay/" + state.stored}, saved, "replay it");
      }
      if (state.thinking) setTimeout(refresh, 1000);
    };
    const refresh = async () => {
      try { state = await api(`/api/play/${state.id}`); render(); } catch (error) { showError(error); }
    };
    let busy = false;
    async function move(action) {
      if (busy) return;
      busy = true;
      try { state = await api(`/api/play/${state.id}/move`, {action}); showError(null); render(); }
      catch (error) { showError(error); }
      finally { busy = false; }
    }
    document.getElementById("save").addEventListener("click", async () => {
      try { const doc = await api(`/api/play/${state.id}/save`, {}); state.stored = doc.match; render(); }
      catch (error) { showError(error); }
    });
    render();
  }

  const pages = {player: playerPage, league: leaguePage, replay: replayPage, play: playForm, game: gamePage};
  if (pages[page]) pages[page]();
})();
