"use strict";
// The superres page: images dropped here go to the jobs API one by one (POST /api/v1/jobs),
// their progress is polled, results are shown before/after and downloaded singly or as a ZIP.
(() => {
  const API = "/api/v1";
  const $ = (id) => document.getElementById(id);
  const token = new URLSearchParams(location.hash.slice(1)).get("token") || sessionStorage.getItem("superres-token");
  if (token) sessionStorage.setItem("superres-token", token);
  const items = [];
  let models = [], selected = null;

  function headers() {
    return token ? { Authorization: `Bearer ${token}` } : {};
  }

  async function api(path, options = {}) {
    const response = await fetch(API + path, { ...options, headers: { ...headers(), ...(options.headers || {}) } });
    if (!response.ok) {
      let message = `HTTP ${response.status}`;
      try { message = (await response.json()).error || message; } catch (_) { /* not JSON */ }
      const error = new Error(message);
      error.status = response.status;
      error.retryAfter = Number(response.headers.get("Retry-After") || 0);
      throw error;
    }
    return response;
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  async function loadModels() {
    try {
      models = (await (await api("/models")).json()).models;
    } catch (error) {
      $("drop-note").textContent = `The server's models could not be listed: ${error.message}`;
      return;
    }
    $("model").replaceChildren(...models.map((m) => new Option(`${m.name} (${m.kind})`, m.name)));
    showScales();
  }

  function showScales() {
    const model = models.find((m) => m.name === $("model").value);
    const scales = model ? model.scales : [];
    const preferred = scales.includes(4) ? 4 : scales[0];
    $("scale").replaceChildren(...scales.map((s) => new Option(`x${s}`, s, false, s === preferred)));
  }

  function settings() {
    const form = new FormData();
    form.set("model", $("model").value);
    if ($("scale").value) form.set("scale", $("scale").value);
    if ($("strength-on").checked) form.set("strength", $("strength").value);
    if ($("format").value) form.set("format", $("format").value);
    return form;
  }

  function addFiles(files) {
    for (const file of files) {
      const node = $("item-template").content.firstElementChild.cloneNode(true);
      const item = { file, node, state: "queued", blob: null, name: "", url: null, before: URL.createObjectURL(file) };
      node.querySelector(".name").textContent = file.name;
      node.querySelector(".select").addEventListener("click", () => select(item));
      $("list").append(node);
      items.push(item);
      run(item, settings());
    }
  }

  function show(item, state, progress) {
    item.state = state;
    item.node.dataset.state = state;
    item.node.classList.toggle("failed", state === "failed");
    item.node.querySelector(".status").textContent = state;
    if (progress !== undefined) item.node.querySelector("progress").value = progress;
  }

  async function submit(item, form) {
    form.set("file", item.file, item.file.name);
    for (;;) {
      try {
        return await (await api("/jobs", { method: "POST", body: form })).json();
      } catch (error) {
        if (error.status !== 429) throw error;
        show(item, "waiting for the queue", 0);
        await sleep(1000 * (error.retryAfter || 2));
      }
    }
  }

  async function run(item, form) {
    try {
      let job = await submit(item, form);
      while (!["done", "failed", "cancelled"].includes(job.state)) {
        show(item, job.state === "running" ? `${Math.round(job.progress * 100)}%` : job.state, job.progress);
        await sleep(250);
        job = await (await api(`/jobs/${job.id}`)).json();
      }
      if (job.state !== "done") throw new Error(job.error ? job.error.message : job.state);
      item.blob = await (await api(`/jobs/${job.id}/result`)).blob();
      item.name = job.result_name;
      item.url = URL.createObjectURL(item.blob);
      const link = item.node.querySelector(".download");
      Object.assign(link, { href: item.url, download: item.name, hidden: false });
      link.textContent = `download ${item.name} (${job.width}x${job.height})`;
      show(item, "done", 1);
      if (!selected || selected.state !== "done") select(item);
    } catch (error) {
      show(item, "failed", 0);
      item.node.querySelector(".status").textContent = `failed: ${error.message}`;
    }
    $("download-all").disabled = !items.some((i) => i.blob);
  }

  function select(item) {
    selected = item;
    for (const other of items) other.node.classList.toggle("selected", other === item);
    if (!item.url) return;
    $("viewer-title").textContent = item.name;
    $("after").onload = layout;
    $("before").src = item.before;
    $("after").src = item.url;
  }

  function layout() {
    const after = $("after"), stage = $("stage");
    if (!after.naturalWidth) return;
    const zoom = $("zoom").value, viewer = $("viewer");
    const fit = Math.min(viewer.clientWidth / after.naturalWidth, viewer.clientHeight / after.naturalHeight, 1);
    const factor = zoom === "fit" ? fit : Number(zoom);
    stage.style.width = `${after.naturalWidth * factor}px`;
    stage.style.height = `${after.naturalHeight * factor}px`;
    stage.classList.toggle("pixelated", factor > 1);
    stage.classList.add("shown");
    $("viewer-empty").hidden = true;
  }

  function compare() {
    const position = Number($("compare").value);
    $("before").style.clipPath = `inset(0 ${100 - position}% 0 0)`;
    $("divider").style.left = `${position}%`;
  }

  function dragCompare(event) {
    if (!(event.buttons & 1)) return;
    const box = $("stage").getBoundingClientRect();
    $("compare").value = Math.max(0, Math.min(100, ((event.clientX - box.left) / box.width) * 100));
    compare();
  }

  async function downloadAll() {
    const done = items.filter((i) => i.blob), seen = new Set(), files = [];
    for (const item of done) {
      let name = item.name, n = 1;
      while (seen.has(name)) name = item.name.replace(/(\.[^.]*)?$/, `-${n++}$1`);
      seen.add(name);
      files.push({ name, bytes: new Uint8Array(await item.blob.arrayBuffer()) });
    }
    const link = document.createElement("a");
    link.href = URL.createObjectURL(SuperresZip.makeZip(files));
    link.download = "superres.zip";
    document.body.append(link);
    link.click();
    link.remove();
  }

  const drop = $("drop");
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    addFiles(event.dataTransfer.files);
  });
  $("files").addEventListener("change", (event) => { addFiles(event.target.files); event.target.value = ""; });
  $("model").addEventListener("change", showScales);
  $("strength-on").addEventListener("change", () => {
    $("strength").disabled = !$("strength-on").checked;
    $("strength-value").textContent = $("strength-on").checked ? $("strength").value : "model's own";
  });
  $("strength").addEventListener("input", () => { $("strength-value").textContent = $("strength").value; });
  $("compare").addEventListener("input", compare);
  $("stage").addEventListener("pointermove", dragCompare);
  $("stage").addEventListener("pointerdown", dragCompare);
  $("zoom").addEventListener("change", layout);
  window.addEventListener("resize", layout);
  $("download-all").addEventListener("click", downloadAll);
  compare();
  loadModels();
})();
