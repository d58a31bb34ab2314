/* vidalign viewer (docs/viewer.md): builds the page for window.VIDALIGN_DATA, written by vidalign.viewer.
 * Kinds: "align" and "compare" (two players kept in sync through the frame maps, the similarity matrix with the
 * path, and for compare the deviation curve and step timelines), "segment" (timelines) and "retrieve" (matches).
 * Frame i of a recording's browser copy is shown during [i / fps, (i + 1) / fps); seeks aim at its middle. */
(function () {
  "use strict";

  const DATA = window.VIDALIGN_DATA;
  const PALETTE = ["#4c6ef5", "#f59f00", "#37b24d", "#e64980", "#15aabf", "#7950f2", "#fd7e14", "#82c91e",
                   "#be4bdb", "#1098ad", "#fab005", "#f03e3e", "#5c940d", "#364fc7", "#a61e4d", "#087f5b"];
  const VIRIDIS = [[68, 1, 84], [72, 40, 120], [62, 74, 137], [49, 104, 142], [38, 130, 142], [31, 158, 137],
                   [53, 183, 121], [109, 205, 89], [180, 222, 44], [253, 231, 37]];

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value);
    }
    for (const child of children) if (child != null) node.append(child);
    return node;
  }
  function svg(tag, attrs) {
    const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
    return node;
  }
  const clamp = (x, lo, hi) => Math.min(hi, Math.max(lo, x));
  const fmt = (x, digits = 3) => (x == null ? "n/a" : Number(x).toFixed(digits));

  function timeOf(rec, frame) {
    return rec.times && rec.times[frame] != null ? rec.times[frame] : frame / rec.fps;
  }

  function colourOf(name, names) {
    if (!names.has(name)) {  // beyond the palette, hues a golden angle apart: no two steps share a colour
      const k = names.size;
      names.set(name, k < PALETTE.length ? PALETTE[k] : `hsl(${(k * 137.508) % 360}, 65%, 48%)`);
    }
    return names.get(name);
  }

  /* One recording's position: the <video> of its browser copy, or a frame cursor when it has no video. */
  class Track {
    constructor(rec, id) {
      this.rec = rec;
      this.frame = 0;
      this.expected = null;
      this.handlers = {};
      if (rec.video) {
        this.video = el("video", { id, src: rec.video, controls: "", preload: "auto", playsinline: "" });
        this.video.muted = true;
        this.video.addEventListener("seeking", () => { if (!this.isOwnSeek()) this.emit("user"); });
        this.video.addEventListener("play", () => this.emit("play"));
        for (const name of ["seeked", "timeupdate", "loadeddata"]) this.video.addEventListener(name, () => this.emit("moved"));
      }
    }
    on(name, handler) { (this.handlers[name] = this.handlers[name] || []).push(handler); }
    emit(name) { for (const handler of this.handlers[name] || []) handler(); }
    frameAt(seconds) { return clamp(Math.floor(seconds * this.rec.fps + 1e-3), 0, this.rec.frames - 1); }
    currentFrame() { return this.video ? this.frameAt(this.video.currentTime) : this.frame; }
    isOwnSeek() {
      return this.expected !== null && Math.abs(this.video.currentTime - this.expected) < 0.25 / this.rec.fps;
    }
    seekFrame(frame) {
      frame = clamp(Math.round(frame), 0, this.rec.frames - 1);
      if (this.video) {
        this.expected = (frame + 0.5) / this.rec.fps;
        this.video.currentTime = this.expected;
      } else {
        this.frame = frame;
      }
      this.emit("moved");
    }
    playing() { return this.video && !this.video.paused && !this.video.ended; }
    pause() { if (this.video) this.video.pause(); }
  }

  function playerFigure(track, caption, badge) {
    const readout = el("span", { class: "readout" });
    const body = track.video || el("div", { class: "no-video", text: `${track.rec.name}: no video for this recording (features only)` });
    const update = () => {
      const frame = track.currentFrame();
      readout.textContent = `frame ${frame} / ${track.rec.frames} · ${fmt(timeOf(track.rec, frame), 2)} s`;
    };
    track.on("moved", update);
    update();
    return el("figure", {}, body, el("figcaption", {}, el("span", { text: caption }), badge, readout));
  }

  /* Keeps the follower on the leader's matched frame: the leader is the player last played or scrubbed. */
  class Sync {
    constructor(a, b, aToB, bToA, badges) {
      this.tracks = [a, b];
      this.maps = [aToB, bToA];
      this.badges = badges;
      this.leader = 0;
      this.shown = [-1, -1];
      this.tracks.forEach((track, side) => {
        track.on("user", () => this.lead(side));
        track.on("play", () => this.lead(side));
        track.on("moved", () => { if (side === this.leader) this.follow(); });
      });
      const tick = () => { if (this.tracks[this.leader].playing()) this.follow(); requestAnimationFrame(tick); };
      requestAnimationFrame(tick);
      this.follow();
    }
    /* The player the user acts on leads; the other stops playing on its own and follows. */
    lead(side) { this.leader = side; this.tracks[1 - side].pause(); this.shown[side] = -1; this.follow(); }
    follow() {
      const side = this.leader;
      const frame = this.tracks[side].currentFrame();
      if (frame === this.shown[side]) return;
      this.shown[side] = frame;
      const target = this.maps[side][frame];
      const follower = this.tracks[1 - side];
      this.badges[1 - side].hidden = target != null;
      this.badges[side].hidden = true;
      if (target != null && follower.currentFrame() !== target) follower.seekFrame(target);
    }
    /* Both players to (frame A, frame B) at once, as a click on the matrix asks. */
    seekBoth(frameA, frameB) {
      this.tracks[0].pause();
      this.tracks[1].pause();
      this.leader = 0;
      this.shown = [clamp(frameA, 0, this.tracks[0].rec.frames - 1), -1];
      this.badges.forEach((badge) => { badge.hidden = true; });
      this.tracks[0].seekFrame(frameA);
      this.tracks[1].seekFrame(frameB);
    }
  }

  function decodeCells(matrix) {
    const raw = atob(matrix.data);
    const cells = new Uint8Array(raw.length);
    for (let k = 0; k < raw.length; k++) cells[k] = raw.charCodeAt(k);
    return cells;
  }

  function viridis(t) {
    const x = clamp(t, 0, 1) * (VIRIDIS.length - 1);
    const k = Math.min(VIRIDIS.length - 2, Math.floor(x));
    const f = x - k;
    return VIRIDIS[k].map((c, n) => Math.round(c + f * (VIRIDIS[k + 1][n] - c)));
  }

  function colourbar(low, high) {
    const stops = VIRIDIS.map((c, k) => `rgb(${c}) ${(100 * k) / (VIRIDIS.length - 1)}%`).join(",");
    return el("div", {},
      el("div", { class: "colorbar", style: `background: linear-gradient(to right, ${stops})` }),
      el("div", { class: "timeline-label" }, el("span", { text: fmt(low) }),
        el("span", { text: `similarity: colours span ${fmt(low)} to ${fmt(high)}` }), el("span", { text: fmt(high) })));
  }

  /* The similarity matrix (rows: A, columns: B) with the path; a click seeks both players to the cell. */
  function matrixView(data, sync, tooltip) {
    const m = data.alignment.matrix;
    const n = data.a.frames, cols = data.b.frames;
    const width = Math.min(520, Math.max(260, window.innerWidth - 80));
    const height = Math.round(width * clamp(n / cols, 0.4, 2.5));
    const base = el("canvas", { id: "matrix", width: m.cols, height: m.rows, style: `width:${width}px;height:${height}px` });
    const ratio = window.devicePixelRatio || 1;
    const overlay = el("canvas", { id: "matrix-overlay", width: Math.round(width * ratio), height: Math.round(height * ratio),
                                   style: `width:${width}px;height:${height}px` });
    const cells = decodeCells(m);
    const image = base.getContext("2d").createImageData(m.cols, m.rows);
    for (let k = 0; k < cells.length; k++) {
      const [r, g, b] = viridis(cells[k] / 255);
      image.data.set([r, g, b, 255], 4 * k);
    }
    base.getContext("2d").putImageData(image, 0, 0);
    const toX = (j) => ((j + 0.5) / cols) * width, toY = (i) => ((i + 0.5) / n) * height;
    const draw = () => {
      const ctx = overlay.getContext("2d");
      ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
      ctx.clearRect(0, 0, width, height);
      ctx.fillStyle = "rgba(255,255,255,0.9)";
      const dot = Math.max(1, Math.min(2.5, width / cols));
      for (const [i, j] of data.alignment.pairs) ctx.fillRect(toX(j) - dot / 2, toY(i) - dot / 2, dot, dot);
      const [fa, fb] = sync.tracks.map((t) => t.currentFrame());
      ctx.strokeStyle = "#d6336c";
      ctx.lineWidth = 1;
      ctx.beginPath();
      ctx.moveTo(0, toY(fa)); ctx.lineTo(width, toY(fa));
      ctx.moveTo(toX(fb), 0); ctx.lineTo(toX(fb), height);
      ctx.stroke();
    };
    sync.tracks.forEach((t) => t.on("moved", draw));
    draw();
    const cellAt = (event) => {
      const box = base.getBoundingClientRect();
      const i = clamp(Math.floor(((event.clientY - box.top) / box.height) * n), 0, n - 1);
      const j = clamp(Math.floor(((event.clientX - box.left) / box.width) * cols), 0, cols - 1);
      const r = Math.min(m.rows - 1, Math.floor((i * m.rows) / n)), c = Math.min(m.cols - 1, Math.floor((j * m.cols) / cols));
      return { i, j, value: m.low + (cells[r * m.cols + c] / 255) * (m.high - m.low) };
    };
    base.addEventListener("click", (event) => { const { i, j } = cellAt(event); sync.seekBoth(i, j); });
    base.addEventListener("mousemove", (event) => {
      const { i, j, value } = cellAt(event);
      tooltip.show(event, [[data.a, i], [data.b, j]], `${data.a.label} frame ${i} · ${data.b.label} frame ${j} · similarity ≈ ${fmt(value)}`);
    });
    base.addEventListener("mouseleave", () => tooltip.hide());
    const note = m.rows < n || m.cols < cols ? ` (${m.rows} × ${m.cols} cells: block means of about ${fmt(n / m.rows, 1)} × ${fmt(cols / m.cols, 1)} frames)` : "";
    return el("div", { style: `width:${width}px` }, el("div", { class: "matrix-wrap" }, base, overlay),
      el("p", { class: "axis-note", text: `rows: ${data.a.label} (${data.a.name}), columns: ${data.b.label} (${data.b.name})${note}. Click a cell to seek both players.` }),
      colourbar(m.low, m.high));
  }

  function thumb(rec, frame, height = 72) {
    const sprite = rec.sprite;
    if (!sprite) return null;
    const k = clamp(Math.floor(frame / sprite.every), 0, sprite.count - 1);
    const scale = height / sprite.height;
    const col = k % sprite.columns, row = Math.floor(k / sprite.columns);
    const rows = Math.ceil(sprite.count / sprite.columns);
    const width = Math.round(sprite.width * scale);
    return el("div", { class: "thumb", style: `width:${width}px;height:${height}px;background-image:url("${sprite.src}");` +
      `background-size:${Math.min(sprite.count, sprite.columns) * width}px ${rows * height}px;` +
      `background-position:${-col * width}px ${-row * height}px` });
  }

  function makeTooltip() {
    const box = el("div", { class: "tooltip", hidden: "" });
    document.body.append(box);
    return {
      show(event, frames, text) {
        box.replaceChildren(el("div", { class: "thumbs" }, ...frames.map(([rec, f]) => thumb(rec, f))), el("div", { text }));
        box.hidden = false;
        const x = event.clientX + 14, y = event.clientY + 14;
        box.style.left = `${Math.min(x, window.innerWidth - box.offsetWidth - 8)}px`;
        box.style.top = `${Math.min(y, window.innerHeight - box.offsetHeight - 8)}px`;
      },
      hide() { box.hidden = true; },
    };
  }

  /* The indices of each run of consecutive values that are not null. */
  function finiteRuns(values) {
    const runs = [];
    values.forEach((v, j) => {
      if (v == null) return;
      if (runs.length && runs[runs.length - 1].at(-1) === j - 1) runs[runs.length - 1].push(j);
      else runs.push([j]);
    });
    return runs;
  }

  /* The query's deviation from the reference along the alignment, the threshold, flagged intervals and gaps. */
  function deviationView(data, sync, tooltip) {
    const dev = data.deviation, values = dev.values, count = values.length;
    const W = 1000, H = 180, top = 8, bottom = 170;
    const ymax = values.reduce((m, v) => (v != null && v > m ? v : m), dev.threshold * 1.2) || 1;  // no spread: long recordings
    const x = (j) => ((j + 0.5) / count) * W, y = (v) => bottom - (v / ymax) * (bottom - top);
    const plot = svg("svg", { class: "curve", id: "deviation", viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none" });
    const band = (cls, s, e) => svg("rect", { class: cls, x: (s / count) * W, width: ((e - s + 1) / count) * W, y: 0, height: H,
                                              "data-start": s, "data-end": e });
    for (const g of dev.query_gaps) plot.append(band("gap", g.start, g.end));
    for (const f of dev.flagged) plot.append(band("flagged", f.start, f.end));
    for (const run of finiteRuns(values)) {  // a frame without a value is a gap in the curve, not a zero
      const points = run.length > 1 ? run.map((j) => `${x(j)},${y(values[j])}`)
        : [`${x(run[0]) - W / count / 2},${y(values[run[0]])}`, `${x(run[0]) + W / count / 2},${y(values[run[0]])}`];
      plot.append(svg("polyline", { class: "deviation", points: points.join(" ") }));
    }
    plot.append(svg("line", { class: "threshold", x1: 0, x2: W, y1: y(dev.threshold), y2: y(dev.threshold) }));
    const cursor = svg("line", { class: "cursor", y1: 0, y2: H });
    plot.append(cursor);
    const [reference, query] = sync.tracks;
    const place = () => { const j = query.currentFrame(); cursor.setAttribute("x1", x(j)); cursor.setAttribute("x2", x(j)); };
    query.on("moved", place);
    place();
    const frameAt = (event) => {
      const box = plot.getBoundingClientRect();
      return clamp(Math.floor(((event.clientX - box.left) / box.width) * count), 0, count - 1);
    };
    plot.addEventListener("mousemove", (event) => {
      const j = frameAt(event), i = dev.query_to_reference[j];
      const flagged = dev.flagged.some((f) => f.start <= j && j <= f.end) ? " · flagged" : "";
      tooltip.show(event, [[data.b, j], [data.a, i]],
        `query frame ${j} (${fmt(timeOf(data.b, j), 2)} s) ↔ reference frame ${i} · deviation ${fmt(values[j])}${flagged}`);
    });
    plot.addEventListener("mouseleave", () => tooltip.hide());
    plot.addEventListener("click", (event) => { const j = frameAt(event); sync.seekBoth(dev.query_to_reference[j], j); });
    const legend = el("p", { class: "legend" },
      el("span", {}, el("i", { style: "background:#1c7ed6" }), "deviation of each query frame"),
      el("span", {}, el("i", { style: "background:#d6336c" }), `threshold ${fmt(dev.threshold)}: ${dev.threshold_rule}`),
      el("span", {}, el("i", { style: "background:rgba(214,51,108,.3)" }), `flagged (${dev.flagged.length})`),
      el("span", {}, el("i", { style: "background:rgba(134,142,150,.4)" }), `no counterpart in the reference (${dev.query_gaps.length})`));
    return el("div", {}, plot, legend, findingsList(data, sync));
  }

  function interval(rec, span) {
    return `frames ${span.start}-${span.end} (${fmt(timeOf(rec, span.start), 2)}-${fmt(timeOf(rec, span.end), 2)} s)`;
  }

  function findingsList(data, sync) {
    const dev = data.deviation;
    const list = el("ul", { class: "findings", id: "flagged-list" });
    for (const f of dev.flagged) {
      const link = el("a", { text: `flagged: query ${interval(data.b, f)}, max deviation ${fmt(f.max_deviation)}` });
      link.addEventListener("click", () => sync.seekBoth(dev.query_to_reference[f.start], f.start));
      list.append(el("li", {}, link));
    }
    for (const g of dev.query_gaps) list.append(el("li", { text: `query ${interval(data.b, g)}: no counterpart in the reference` }));
    for (const g of dev.reference_gaps) list.append(el("li", { text: `reference ${interval(data.a, g)}: not in the query` }));
    if (!list.children.length) list.append(el("li", { text: "nothing flagged" }));
    return list;
  }

  /* A recording's step timeline; a click on a segment seeks its track to the segment's first frame. */
  function timeline(rec, segments, names, track, caption) {
    const bar = el("div", { class: "timeline", "data-recording": rec.label });
    for (const s of segments) {
      const end = s.end + 1;
      const name = s.name != null ? s.name : s.step != null ? s.step : String(s.label);
      const part = el("div", { class: "segment", title: `${name}: ${interval(rec, { start: s.start, end: end - 1 })}`,
        style: `left:${(100 * s.start) / rec.frames}%;width:${(100 * (end - s.start)) / rec.frames}%;background:${colourOf(name, names)}` });
      if (track) part.addEventListener("click", () => track(s.start));
      bar.append(part);
    }
    const marker = el("div", { class: "marker", style: "left:0" });
    bar.append(marker);
    return { node: el("div", {}, el("div", { class: "timeline-label" }, el("span", { text: caption }), el("span", { text: `${rec.frames} frames` })), bar),
             mark: (frame) => { marker.style.left = `${(100 * frame) / rec.frames}%`; } };
  }

  function stepsView(data, sync) {
    const steps = data.steps, names = new Map();
    const parts = [];
    const sides = [["reference_segments", 0], ["query_segments", 1]];
    for (const [key, side] of sides) {
      const track = sync.tracks[side];
      const segments = steps[key].map((s) => ({ step: s.step, start: s.start, end: s.end - 1 }));
      const line = timeline(track.rec, segments, names, (frame) => { sync.lead(side); track.seekFrame(frame); },
                            `${track.rec.label} (${track.rec.name})`);
      track.on("moved", () => line.mark(track.currentFrame()));
      parts.push(line.node);
    }
    const said = [];
    if (steps.missing.length) said.push(`missing: ${steps.missing.join(", ")}`);
    if (steps.extra.length) said.push(`extra: ${steps.extra.join(", ")}`);
    if (steps.out_of_order.length) said.push(`out of order: ${steps.out_of_order.join(", ")}`);
    if (steps.repeated && steps.repeated.length) {
      said.push(`repeated: ${steps.repeated.map((r) => `${r.step} ×${r.times}`).join(", ")}`);
    }
    const durations = steps.durations.map((d) => `${d.step} ×${fmt(d.ratio, 2)}`).join(", ");
    return el("div", { id: "steps" }, ...parts,
      el("p", { text: said.length ? said.join(" · ") : "every reference step is in the query, in order" }),
      el("p", { class: "note", text: `query duration / reference duration per step: ${durations}` }));
  }

  function confidenceView(confidence) {
    if (!confidence) return null;
    const rows = [["contrast", confidence.contrast], ["order margin", confidence.order_margin],
                  ["order evidence (z)", confidence.order_evidence],
                  ["path margin", confidence.path_margin], ["gain over uniform time", confidence.time_gain],
                  ["deviation from the diagonal", confidence.diagonal_deviation]];
    if (confidence.phase_evidence !== null && confidence.phase_evidence !== undefined) {
      rows.push(["repetition period (frames)", `${confidence.periods[0]} / ${confidence.periods[1]}`],
                ["periodicity", confidence.periodicity], ["phase evidence", confidence.phase_evidence]);
    }
    if (confidence.match_ratio !== null && confidence.match_ratio !== undefined) {
      rows.push(["similarity along the path / training recordings'",
                 `${fmt(confidence.path_similarity)} / ${fmt(confidence.training_similarity)}`],
                ["match ratio (distance from identical / training recordings')", confidence.match_ratio]);
    }
    return el("table", { id: "confidence" }, ...rows.map(([name, value]) => el("tr", {}, el("th", { text: name }), el("td", { text: typeof value === "string" ? value : fmt(value) }))));
  }

  function alignmentPage(data, app) {
    const tooltip = makeTooltip();
    const a = new Track(data.a, "player-a"), b = new Track(data.b, "player-b");
    const badges = [0, 1].map(() => el("span", { class: "badge", hidden: "", text: "no counterpart" }));
    const sync = new Sync(a, b, data.alignment.a_to_b, data.alignment.b_to_a, badges);
    const al = data.alignment;
    document.getElementById("summary").textContent =
      `${al.method}: ${al.score_kind} ${fmt(al.score, 4)} · ${data.a.label}: ${data.a.name} (${data.a.frames} frames) · ` +
      `${data.b.label}: ${data.b.name} (${data.b.frames} frames)`;
    if (al.confidence && !al.confidence.trusted) {
      const warning = document.getElementById("warning");
      warning.textContent = `This alignment cannot be trusted: ${al.confidence.reasons.join("; ")}`;
      warning.hidden = false;
    } else if (al.confidence && al.confidence.judged_by === "phase") {
      app.append(el("p", { id: "repetition-note", class: "note",
        text: `Both recordings repeat a movement (every ~${al.confidence.periods[0]} / ~${al.confidence.periods[1]} ` +
              "frames): frames are matched by their phase in it; which repetition matches which, the frames cannot tell." }));
    }
    app.append(el("section", { class: "players" }, playerFigure(a, `${data.a.label}: ${data.a.name}`, badges[0]),
                                                   playerFigure(b, `${data.b.label}: ${data.b.name}`, badges[1])),
               el("p", { class: "note", text: "Play or scrub either video; the other follows the alignment." }));
    if (data.deviation) app.append(el("h2", { text: "Deviation of the query from the reference" }), deviationView(data, sync, tooltip));
    if (data.steps) app.append(el("h2", { text: "Steps" }), stepsView(data, sync));
    app.append(el("h2", { text: "Similarity matrix and path" }),
               el("div", { class: "row" }, matrixView(data, sync, tooltip),
                  el("div", {}, el("h2", { text: "Confidence" }), confidenceView(al.confidence))));
  }

  /* One shared player that opens a recording at a frame (segment and retrieve pages). */
  function stagePlayer(id) {
    const video = el("video", { id, controls: "", preload: "auto", playsinline: "" });
    video.muted = true;
    const caption = el("figcaption", { text: "click a segment or a match to open it here" });
    let wanted = 0;  // the time of the latest request: a click before the video loaded must not win over a later one
    video.addEventListener("loadedmetadata", () => { video.currentTime = wanted; });
    return {
      node: el("section", { class: "players single" }, el("figure", {}, video, caption)),
      open(rec, frame) {
        caption.textContent = `${rec.name}: frame ${frame} (${fmt(timeOf(rec, frame), 2)} s)`;
        if (!rec.video) { caption.textContent += " · no video for this recording"; return; }
        wanted = (frame + 0.5) / rec.fps;
        if (video.getAttribute("src") !== rec.video) video.setAttribute("src", rec.video);
        else if (video.readyState >= 1) video.currentTime = wanted;
      },
    };
  }

  function segmentPage(data, app) {
    document.getElementById("summary").textContent = `${data.videos.length} videos segmented by ${data.title}`;
    const stage = stagePlayer("player-segment");
    const names = new Map();
    app.append(stage.node, el("h2", { text: "Segments" }));
    for (const video of data.videos) {
      const rec = video.recording;
      const open = (frame) => stage.open(rec, frame);
      // ground truth above the prediction, as timelines.png draws them
      if (video.ground_truth) app.append(timeline(rec, video.ground_truth, names, open, `${video.id}: ground truth`).node);
      app.append(timeline(rec, video.segments, names, open, `${video.id}: predicted`).node);
    }
    app.append(el("p", { class: "legend" }, ...[...names].map(([name, colour]) => el("span", {}, el("i", { style: `background:${colour}` }), name))));
  }

  function retrievalPage(data, app) {
    document.getElementById("summary").textContent = `best matches of ${data.title} in ${data.results.length} recordings`;
    const stage = stagePlayer("player-match");
    const query = data.query;
    app.append(el("h2", { text: "Query" }),
               el("div", { class: "match", id: "query-frame" }, thumb(query, data.frame, 120),
                  el("div", { text: `${query.name} frame ${data.frame}${data.time != null ? ` (${fmt(data.time, 2)} s)` : ""}` })),
               el("h2", { text: "Matches" }), stage.node);
    for (const result of data.results) {
      const rec = result.recording;
      const cards = result.matches.map((match, rank) => {
        const card = el("div", { class: "match", "data-video": result.video, "data-frame": match.frame },
          thumb(rec, match.frame, 90),
          el("div", { text: `#${rank + 1} frame ${match.frame}${match.time != null ? ` · ${fmt(match.time, 2)} s` : ""} · ${fmt(match.similarity)}` }));
        card.addEventListener("click", () => {
          document.querySelectorAll(".match.active").forEach((n) => n.classList.remove("active"));
          card.classList.add("active");
          stage.open(rec, match.frame);
        });
        return card;
      });
      const heading = result.mirrored ? `${result.video} (searched mirrored left-right)` : result.video;
      app.append(el("h2", { text: heading }), el("div", { class: "matches" }, ...cards));
    }
  }

  function main() {
    const app = document.getElementById("app");
    app.replaceChildren();
    if (!DATA) { app.append(el("p", { class: "warning", text: "data.js is missing: write this page with vidalign." })); return; }
    document.getElementById("title").textContent = `vidalign · ${DATA.title}`;
    document.title = `vidalign · ${DATA.title}`;
    const pages = { align: alignmentPage, compare: alignmentPage, segment: segmentPage, retrieve: retrievalPage };
    pages[DATA.kind](DATA, app);
    document.body.dataset.ready = "true";
  }

  main();
})();
