/* OneMap citizen page: report a problem (no account), follow it by its tracking link, rate it.
   Plain JS; the map is deck.gl (Panel's bundle, served by this server) over the server's own vector
   tiles, so no request leaves the server. Keyboard: the map takes arrow keys (pan), +/- (zoom) and
   Enter (pin at the crosshair); the address path needs no map at all. */
(function () {
  "use strict";
  const T = {
    zh: {
      title: "随手拍 · 问题上报", skip: "跳到内容", lang: "English",
      intro: "无需注册。选择问题类型，标出位置，可附照片。提交后您会得到一个跟踪链接。",
      step1: "1. 什么问题？", category: "问题类型", choose: "请选择…",
      category_help: "涉及个人隐私或人身安全的求助请拨打 12345。",
      step2: "2. 在哪里？", where_how: "选择标注位置的方式", where_map: "在地图上标注", where_address: "输入地址（不用地图）",
      map_help: "点击地图放置标记；或用方向键移动地图、按回车把标记放在十字中心。", map_label: "地图：方向键移动，加减号缩放，回车放置标记",
      pin_centre: "标记放在十字中心", use_location: "使用我的位置", address_q: "地址或地点名称", search: "搜索",
      address_pick: "选择最接近的地点", no_place: "尚未选择位置", place_set: "已选位置：",
      no_results: "没有找到匹配的地点，请换个说法，或改用地图。", searching: "正在搜索…",
      nearby_title: "附近已有的同类上报", nearby_none: "附近没有未办结的同类上报。",
      nearby_some: "附近已有 {n} 条未办结的同类上报。如果是同一个问题，您的上报会并入 #{id}，不会重复派单。",
      nearby_list: "附近已有 {n} 条未办结的同类上报：", meters: "米",
      step3: "3. 照片和描述（可选）", photos: "添加照片",
      photos_help: "JPEG、PNG 或 WebP，每张不超过 15 MB。照片中的位置信息不会公开。", description: "描述",
      uploading: "正在上传 {name}…", uploaded: "已添加照片 {name}", remove: "移除", photo_removed: "已移除照片",
      photo_alt: "已添加的照片 {n}",
      step4: "4. 联系方式（可选）", phone: "手机号", email: "电子邮箱（接收进度通知）", submit: "提交", sending: "正在提交…",
      need_category: "请选择问题类型。", need_place: "请在地图上标注位置，或搜索并选择一个地址。",
      wait_upload: "照片还在上传，请稍候。", net_error: "网络不通，请稍后再试（重试不会重复提交）。",
      too_large: "照片太大", unsupported_media: "不是支持的图片格式（JPEG/PNG/WebP）", invalid_input: "照片无法读取",
      done_title: "已收到您的上报", done_created: "事件编号 #{id}。", done_merged: "附近已有同一问题（#{id}），您的上报已并入，我们会一并处理。",
      done_keep: "请保存下面的跟踪链接，凭它查看进度和评价（无需注册）。", copy: "复制链接", copied: "链接已复制",
      new_report: "再报一个", status: "状态", reported_at: "上报时间", history: "处理经过", messages: "通知",
      no_messages: "暂无通知", track_title: "您的上报 #{id}", merged_into: "已并入 #{id}，当前状态：{s}",
      rate_title: "对处理结果满意吗？", rate_comment: "意见（可选）", rate_send: "提交评价", rate_need: "请选择 1–5 分。",
      stars: "{n} 分", rated: "您的评价：{n} 分。谢谢！", refresh: "刷新", bad_link: "跟踪链接无效。",
    },
    en: {
      title: "Report a problem", skip: "Skip to content", lang: "中文",
      intro: "No account needed. Choose the kind of problem, mark the place, add photos if you like. You get a tracking link.",
      step1: "1. What is the problem?", category: "Kind of problem", choose: "Choose…",
      category_help: "For help about a person's privacy or safety, please call 12345.",
      step2: "2. Where is it?", where_how: "How to give the place", where_map: "On the map", where_address: "By address (no map)",
      map_help: "Click the map to drop the pin; or move the map with the arrow keys and press Enter to drop it at the crosshair.",
      map_label: "Map: arrow keys move, plus and minus zoom, Enter drops the pin",
      pin_centre: "Pin at the crosshair", use_location: "Use my location", address_q: "Address or place name", search: "Search",
      address_pick: "Choose the closest place", no_place: "No place chosen yet", place_set: "Place chosen: ",
      no_results: "No matching place. Try other words, or use the map.", searching: "Searching…",
      nearby_title: "Open reports of this kind nearby", nearby_none: "No open report of this kind nearby.",
      nearby_some: "{n} open report(s) of this kind nearby. If it is the same problem, your report joins #{id} instead of starting a new job.",
      nearby_list: "{n} open report(s) of this kind nearby:", meters: "m",
      step3: "3. Photos and description (optional)", photos: "Add photos",
      photos_help: "JPEG, PNG or WebP, up to 15 MB each. The location stored in a photo is never published.",
      description: "Description", uploading: "Uploading {name}…", uploaded: "Photo {name} added", remove: "Remove",
      photo_removed: "Photo removed", photo_alt: "Added photo {n}",
      step4: "4. Contact (optional)", phone: "Phone", email: "E-mail (for progress updates)", submit: "Send report",
      sending: "Sending…", need_category: "Choose the kind of problem.",
      need_place: "Mark the place on the map, or search and choose an address.",
      wait_upload: "A photo is still uploading; please wait.", net_error: "No connection. Try again later (retrying never files it twice).",
      too_large: "Photo too large", unsupported_media: "Not a supported image (JPEG/PNG/WebP)", invalid_input: "The photo cannot be read",
      done_title: "Thank you, we have your report", done_created: "Report number #{id}.",
      done_merged: "The same problem was already reported nearby (#{id}); your report was added to it.",
      done_keep: "Keep this tracking link: it shows the progress and lets you rate the work (no account needed).",
      copy: "Copy link", copied: "Link copied", new_report: "Report another", status: "Status", reported_at: "Reported",
      history: "What happened", messages: "Notifications", no_messages: "No notifications yet",
      track_title: "Your report #{id}", merged_into: "Joined #{id}, now: {s}",
      rate_title: "Are you satisfied with the result?", rate_comment: "Comment (optional)", rate_send: "Send rating",
      rate_need: "Choose 1 to 5.", stars: "{n} of 5", rated: "Your rating: {n} of 5. Thank you!", refresh: "Refresh",
      bad_link: "This tracking link is not valid.",
    },
  };
  const $ = (id) => document.getElementById(id);
  let lang = localStorage.getItem("onemap.lang") || ((navigator.language || "zh").toLowerCase().startsWith("zh") ? "zh" : "en");
  const t = (k, vars) => (T[lang][k] || k).replace(/\{(\w+)\}/g, (_, v) => (vars && v in vars ? vars[v] : ""));
  const state = { pin: null, address: null, photos: [], uploading: 0, categories: [], deck: null, view: null, track: null };

  function applyLang() {
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    document.title = t("title");
    document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
    document.querySelectorAll("[data-i18n-label]").forEach((el) => el.setAttribute("aria-label", t(el.dataset.i18nLabel)));
    const b = $("lang-toggle");
    b.textContent = t("lang");
    b.lang = lang === "zh" ? "en" : "zh";
    renderPinStatus();
    if (state.track) renderTrack(state.track);
  }

  function formError(msg) { $("form-error").textContent = msg || ""; }

  async function api(path, opts) {
    const r = await fetch(path, Object.assign({ headers: { Accept: "application/json" } }, opts || {}));
    let body = null;
    try { body = await r.json(); } catch (e) { body = null; }
    if (!r.ok) {
      const err = new Error((body && body.message) || ("HTTP " + r.status));
      err.status = r.status; err.code = body && body.error;
      throw err;
    }
    return { status: r.status, body };
  }

  /* ---------- map ---------- */
  const COLORS = {
    water: [160, 200, 228, 255], landuse: [226, 232, 214, 255], buildings: [212, 210, 206, 255],
    road: { major: [238, 176, 92, 255], street: [160, 160, 160, 255], service: [190, 190, 190, 255], path: [196, 172, 160, 255] },
    admin: [110, 110, 130, 200], poi: [140, 130, 150, 220],
  };
  const WIDTHS = { major: 14, street: 8, service: 4, path: 1.5 };
  function fill(f) {
    const l = f.properties.layerName;
    if (l === "water") return COLORS.water;
    if (l === "landuse") return COLORS.landuse;
    if (l === "buildings") return COLORS.buildings;
    if (l === "pois") return COLORS.poi;
    return [0, 0, 0, 0];
  }
  function line(f) {
    const p = f.properties;
    if (p.layerName === "roads") return COLORS.road[p.group] || COLORS.road.path;
    if (p.layerName === "admin") return COLORS.admin;
    if (p.layerName === "water") return COLORS.water;
    return [0, 0, 0, 0];
  }
  function width(f) {
    const p = f.properties;
    if (p.layerName === "roads") return WIDTHS[p.group] || 1.5;
    if (p.layerName === "admin") return p.level === 1 ? 12 : p.level === 2 ? 6 : 2;
    if (p.layerName === "water") return 20;
    return 0;
  }
  function layers() {
    const out = [new deck.MVTLayer({
      id: "basemap", data: location.origin + "/tiles/basemap/{z}/{x}/{y}.mvt", minZoom: 0, maxZoom: 16, binary: false,
      loadOptions: { mvt: { workerUrl: location.origin + "/tiles/mvt-worker.js" } },
      filled: true, stroked: true, getFillColor: fill, getLineColor: line, getLineWidth: width,
      lineWidthUnits: "meters", lineWidthMinPixels: 1, pointType: "circle", getPointRadius: 3, pointRadiusUnits: "pixels",
    })];
    if (state.pin) {
      out.push(new deck.ScatterplotLayer({
        id: "pin", data: [state.pin], getPosition: (d) => d, getRadius: 11, radiusUnits: "pixels", stroked: true,
        getFillColor: [214, 40, 40, 255], getLineColor: [255, 255, 255, 255], lineWidthUnits: "pixels", getLineWidth: 3,
      }));
    }
    return out;
  }
  function initMap(bounds) {
    const lon = bounds ? (bounds[0] + bounds[2]) / 2 : 113.4, lat = bounds ? (bounds[1] + bounds[3]) / 2 : 23.1;
    let zoom = 14;
    if (bounds) {
      const w = $("map").clientWidth || 360, span = Math.max(bounds[2] - bounds[0], 1e-4);
      zoom = Math.max(10, Math.min(16, Math.log2((w / 256) * 360 / span)));
    }
    state.view = { longitude: lon, latitude: lat, zoom, pitch: 0, bearing: 0 };
    state.deck = new deck.Deck({
      parent: $("map"), viewState: state.view, controller: { keyboard: false, dragRotate: false, touchRotate: false },
      onViewStateChange: ({ viewState }) => { state.view = viewState; state.deck.setProps({ viewState }); },
      onClick: (info) => { if (info.coordinate) setPin(info.coordinate[0], info.coordinate[1], null); },
      layers: layers(), getCursor: () => "crosshair",
    });
    window.__onemapDeck = state.deck;
  }
  function moveView(dx, dy, dz) {
    const v = Object.assign({}, state.view);
    const step = 180 / Math.pow(2, v.zoom) * 0.5;
    v.longitude += dx * step; v.latitude += dy * step * Math.cos(v.latitude * Math.PI / 180);
    v.zoom = Math.max(8, Math.min(19, v.zoom + dz));
    state.view = v; state.deck.setProps({ viewState: v });
  }
  function onMapKey(e) {
    const k = e.key;
    const moves = { ArrowLeft: [-1, 0, 0], ArrowRight: [1, 0, 0], ArrowUp: [0, 1, 0], ArrowDown: [0, -1, 0],
                    "+": [0, 0, 1], "=": [0, 0, 1], "-": [0, 0, -1], _: [0, 0, -1] };
    if (moves[k]) { e.preventDefault(); moveView(...moves[k]); }
    else if (k === "Enter" || k === " ") { e.preventDefault(); pinAtCentre(); }
  }
  function pinAtCentre() { if (state.view) setPin(state.view.longitude, state.view.latitude, null); }

  function setPin(lon, lat, label) {
    state.pin = [lon, lat];
    state.address = label;
    if (state.deck) state.deck.setProps({ layers: layers() });
    renderPinStatus();
    formError("");
    loadNearby();
  }
  function renderPinStatus() {
    const el = $("pin-status");
    if (!state.pin) { el.textContent = t("no_place"); return; }
    el.textContent = t("place_set") + (state.address ? state.address + " " : "") +
      "(" + state.pin[1].toFixed(5) + ", " + state.pin[0].toFixed(5) + ")";
  }

  /* ---------- nearby reports ---------- */
  let nearbySeq = 0;
  async function loadNearby() {
    const cat = $("category").value;
    const box = $("nearby");
    if (!cat || !state.pin) { box.hidden = true; return; }
    const seq = ++nearbySeq;
    try {
      const q = new URLSearchParams({ category: cat, lon: state.pin[0], lat: state.pin[1], lang });
      const { body } = await api("/api/citizen/nearby?" + q);
      if (seq !== nearbySeq) return;
      const list = $("nearby-list");
      list.textContent = "";
      box.hidden = false;
      if (!body.reports.length) { $("nearby-note").textContent = t("nearby_none"); return; }
      $("nearby-note").textContent = body.would_merge_into
        ? t("nearby_some", { n: body.reports.length, id: body.would_merge_into })
        : t("nearby_list", { n: body.reports.length });
      for (const r of body.reports) {
        const li = document.createElement("li");
        li.textContent = "#" + r.id + " · " + r.status_text + " · " + Math.round(r.distance_m) + " " + t("meters") +
          (r.description ? " · " + r.description : "");
        list.appendChild(li);
      }
    } catch (e) { box.hidden = true; }
  }

  /* ---------- address path ---------- */
  async function searchAddress() {
    const q = $("address-q").value.trim();
    const res = $("address-results"), opts = $("address-options");
    opts.textContent = "";
    res.hidden = false;
    const note = document.createElement("p");
    note.className = "status"; note.setAttribute("role", "status"); note.textContent = t("searching");
    opts.appendChild(note);
    try {
      const { body } = await api("/api/citizen/geocode?" + new URLSearchParams({ q }));
      opts.textContent = "";
      if (!body.length) {
        const p = document.createElement("p"); p.setAttribute("role", "status"); p.textContent = t("no_results");
        opts.appendChild(p); return;
      }
      body.forEach((c, i) => {
        const label = document.createElement("label");
        const input = document.createElement("input");
        input.type = "radio"; input.name = "address-pick"; input.value = String(i);
        input.addEventListener("change", () => setPin(c.lon, c.lat, c.label));
        label.appendChild(input);
        label.appendChild(document.createTextNode(" " + c.label));
        opts.appendChild(label);
      });
      opts.querySelector("input").focus();
    } catch (e) { opts.textContent = ""; formError(e.message); }
  }

  /* ---------- photos ---------- */
  async function addPhotos(files) {
    for (const file of files) {
      state.uploading++;
      $("photos-help").textContent = t("uploading", { name: file.name });
      try {
        const fd = new FormData();
        fd.append("file", file, file.name);
        const { body } = await api("/api/media", { method: "POST", body: fd });
        state.photos.push(body);
        renderPhotos();
        $("photos-help").textContent = t("uploaded", { name: file.name });
      } catch (e) {
        const why = e.code && T[lang][e.code] ? t(e.code) : "";
        formError(file.name + ": " + (why ? why + " — " : "") + (e.status ? e.message : t("net_error")));
        $("photos-help").textContent = t("photos_help");
      } finally {
        state.uploading--;
      }
    }
    $("photos").value = "";
  }
  function renderPhotos() {
    const ul = $("photo-list");
    ul.textContent = "";
    state.photos.forEach((p, i) => {
      const li = document.createElement("li");
      const img = document.createElement("img");
      img.src = p.thumb_url.replace(/^https?:\/\/[^/]+/, ""); img.alt = t("photo_alt", { n: i + 1 });
      const b = document.createElement("button");
      b.type = "button"; b.textContent = t("remove");
      b.setAttribute("aria-label", t("remove") + " " + t("photo_alt", { n: i + 1 }));
      b.addEventListener("click", () => {
        state.photos.splice(i, 1); renderPhotos(); $("photos-help").textContent = t("photo_removed"); $("photos").focus();
      });
      li.appendChild(img); li.appendChild(b); ul.appendChild(li);
    });
  }

  /* ---------- submit ---------- */
  function draftKey() {
    let k = sessionStorage.getItem("onemap.draft");
    if (!k) {
      const a = new Uint8Array(16); crypto.getRandomValues(a);
      k = Array.from(a, (x) => x.toString(16).padStart(2, "0")).join("");
      sessionStorage.setItem("onemap.draft", k);
    }
    return k;
  }
  async function submit(e) {
    e.preventDefault();
    formError("");
    if (!$("category").value) { formError(t("need_category")); $("category").focus(); return; }
    if (!state.pin) {
      formError(t("need_place"));
      (document.querySelector("input[name=where]:checked").value === "map" ? $("map") : $("address-q")).focus();
      return;
    }
    if (state.uploading) { formError(t("wait_upload")); return; }
    const btn = $("submit");
    btn.disabled = true; btn.textContent = t("sending");
    const body = {
      category: $("category").value, lon: state.pin[0], lat: state.pin[1], description: $("description").value,
      address: state.address || null, media: state.photos.map((p) => p.id), phone: $("phone").value.trim() || null,
      email: $("email").value.trim() || null, lang,
    };
    try {
      const r = await api("/api/citizen/reports", {
        method: "POST", body: JSON.stringify(body),
        headers: { "Content-Type": "application/json", Accept: "application/json", "Idempotency-Key": draftKey() },
      });
      sessionStorage.removeItem("onemap.draft");
      const d = r.body;
      const link = location.origin + d.tracking_path;
      $("track-link").href = link; $("track-link").textContent = link;
      $("done-text").textContent = d.outcome === "merged" ? t("done_merged", { id: d.ticket_id }) : t("done_created", { id: d.ticket_id });
      $("report-form").hidden = true;
      $("done").hidden = false;
      $("done").focus();
    } catch (err) {
      formError(err.status ? err.message : t("net_error"));
    } finally {
      btn.disabled = false; btn.textContent = t("submit");
    }
  }

  /* ---------- tracking ---------- */
  function token() { return decodeURIComponent(location.hash.replace(/^#/, "")); }
  async function loadTrack() {
    try {
      const { body } = await api("/api/citizen/track?lang=" + lang, { headers: { Accept: "application/json", "X-Tracking-Token": token() } });
      state.track = body;
      renderTrack(body);
      $("track-error").textContent = "";
    } catch (e) {
      $("track-error").textContent = e.status === 404 ? t("bad_link") : (e.status ? e.message : t("net_error"));
    }
  }
  function when(iso) { return iso ? new Date(iso).toLocaleString(lang === "zh" ? "zh-CN" : "en-GB") : ""; }
  function renderTrack(d) {
    $("track-title").textContent = t("track_title", { id: d.ticket_id });
    $("track-status").textContent = d.status_text;
    $("track-status").dataset.status = d.status;
    const m = $("track-merged");
    m.hidden = !d.merged_into;
    if (d.merged_into) m.textContent = t("merged_into", { id: d.merged_into.id, s: d.merged_into.status_text });
    $("track-category").textContent = d.category_name;
    $("track-created").textContent = when(d.created_at);
    $("track-description").textContent = d.description || "—";
    const ph = $("track-photos"); ph.textContent = "";
    d.photos.forEach((p, i) => {
      const li = document.createElement("li"); const a = document.createElement("a"); const img = document.createElement("img");
      a.href = p.url; img.src = p.thumb; img.alt = t("photo_alt", { n: i + 1 }); a.appendChild(img); li.appendChild(a); ph.appendChild(li);
    });
    const h = $("track-history"); h.textContent = "";
    d.history.forEach((e) => { const li = document.createElement("li"); li.textContent = when(e.at) + " — " + e.text; h.appendChild(li); });
    const ms = $("track-messages"); ms.textContent = "";
    if (!d.messages.length) { const li = document.createElement("li"); li.textContent = t("no_messages"); ms.appendChild(li); }
    d.messages.forEach((x) => { const li = document.createElement("li"); li.textContent = when(x.created_at) + " — " + x.text; ms.appendChild(li); });
    $("rate-form").hidden = !d.can_rate;
    $("rated").hidden = d.rating == null;
    if (d.rating != null) $("rated").textContent = t("rated", { n: d.rating });
    const opts = $("rate-options");
    if (d.can_rate && !opts.childElementCount) {
      for (let n = 1; n <= 5; n++) {
        const l = document.createElement("label"); const i = document.createElement("input");
        i.type = "radio"; i.name = "rating"; i.value = String(n);
        l.appendChild(i); l.appendChild(document.createTextNode(" " + t("stars", { n }))); opts.appendChild(l);
      }
    }
  }
  async function sendRating(e) {
    e.preventDefault();
    const pick = document.querySelector("input[name=rating]:checked");
    if (!pick) { $("track-error").textContent = t("rate_need"); return; }
    try {
      await api("/api/citizen/track/rating", {
        method: "POST", body: JSON.stringify({ rating: Number(pick.value), comment: $("rate-comment").value || null }),
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-Tracking-Token": token() },
      });
      await loadTrack();
      $("rated").focus && $("rated").setAttribute("tabindex", "-1");
      $("rated").focus();
    } catch (err) { $("track-error").textContent = err.status ? err.message : t("net_error"); }
  }

  /* ---------- start ---------- */
  function wire() {
    $("lang-toggle").addEventListener("click", () => {
      lang = lang === "zh" ? "en" : "zh"; localStorage.setItem("onemap.lang", lang); applyLang();
      if (state.track) loadTrack(); else loadNearby();
    });
    document.querySelectorAll("input[name=where]").forEach((r) => r.addEventListener("change", () => {
      const byMap = document.querySelector("input[name=where]:checked").value === "map";
      $("map-box").hidden = !byMap; $("address-box").hidden = byMap;
    }));
    $("map").addEventListener("keydown", onMapKey);
    $("pin-centre").addEventListener("click", pinAtCentre);
    $("use-location").addEventListener("click", () => {
      if (!navigator.geolocation) return;
      navigator.geolocation.getCurrentPosition((p) => {
        state.view = Object.assign({}, state.view, { longitude: p.coords.longitude, latitude: p.coords.latitude, zoom: 17 });
        state.deck.setProps({ viewState: state.view });
        setPin(p.coords.longitude, p.coords.latitude, null);
      }, () => formError(t("need_place")), { enableHighAccuracy: true, timeout: 10000 });
    });
    $("address-search").addEventListener("click", searchAddress);
    $("address-q").addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); searchAddress(); } });
    $("category").addEventListener("change", loadNearby);
    $("photos").addEventListener("change", (e) => addPhotos(Array.from(e.target.files || [])));
    $("report-form").addEventListener("submit", submit);
    $("copy-link").addEventListener("click", async () => {
      try { await navigator.clipboard.writeText($("track-link").href); $("copy-status").textContent = t("copied"); }
      catch (e) { $("copy-status").textContent = $("track-link").href; }
    });
    $("new-report").addEventListener("click", () => { location.href = "/report"; });
    $("rate-form").addEventListener("submit", sendRating);
    $("track-refresh").addEventListener("click", loadTrack);
  }

  async function start() {
    wire();
    applyLang();
    if (location.pathname.replace(/\/$/, "") === "/report/track") {
      $("report-form").hidden = true;
      $("track").hidden = false;
      await loadTrack();
      setInterval(() => { if (document.visibilityState === "visible") loadTrack(); }, 15000);
      document.body.dataset.ready = "1";
      return;
    }
    try {
      const { body } = await api("/api/citizen/setup");
      state.categories = body.categories;
      const sel = $("category");
      const groups = {};
      for (const c of body.categories) {
        if (!groups[c.group]) { groups[c.group] = document.createElement("optgroup"); groups[c.group].label = c.group; sel.appendChild(groups[c.group]); }
        const o = document.createElement("option"); o.value = c.code; o.textContent = c.name; groups[c.group].appendChild(o);
      }
      initMap(body.bounds);
    } catch (e) { formError(e.status ? e.message : t("net_error")); }
    document.body.dataset.ready = "1";
  }
  start();
})();
