// The live view: the device's stream (MJPEG), its readings (server-sent events), a photo upload
// and the browser's own camera, the last two posted to /v1/read. No build step, no dependencies.
"use strict";
(function () {
  const token = new URLSearchParams(location.search).get("access_token");
  const withToken = (url) => token ? url + (url.includes("?") ? "&" : "?") + "access_token=" + encodeURIComponent(token) : url;
  const headers = token ? { Authorization: "Bearer " + token } : {};
  const $ = (id) => document.getElementById(id);
  const showError = (text) => { $("error").textContent = text; };
  const numbersText = (reading) => reading.numbers.map((n) => n.value).join("  ") || "-";

  async function readImage(blob) {
    const response = await fetch("/v1/read", { method: "POST", body: blob,
      headers: Object.assign({ "Content-Type": blob.type || "image/jpeg" }, headers) });
    const body = await response.json();
    if (!response.ok) throw new Error(body.error || response.statusText);
    return body;
  }

  function drawBoxes(ctx, reading) {
    ctx.lineWidth = 2; ctx.font = "14px sans-serif";
    for (const d of reading.digits) {
      const [x, y, w, h] = d.box;
      ctx.strokeStyle = "#00c800"; ctx.strokeRect(x, y, w, h);
      ctx.fillStyle = "#00c800"; ctx.fillText(String(d.label), x, Math.max(12, y - 3));
    }
  }

  async function startDevice() {
    const info = await fetch(withToken("/v1/info"), { headers }).then((r) => r.json());
    if (info.error) { showError(info.error); return; }
    $("info").textContent = `${info.backend}/${info.device}/${info.precision} (${info.artifact})`;
    if (!info.live) { $("device").hidden = true; return; }
    $("stream").src = withToken("/v1/live/stream.mjpg");
    const events = new EventSource(withToken("/v1/live/events"));
    events.onmessage = (message) => {
      const data = JSON.parse(message.data);
      $("status").textContent = `${data.status.state}, ${data.status.frames} frames`;
      if (data.reading) $("numbers").textContent = numbersText(data.reading);
    };
  }

  $("file").addEventListener("change", async () => {
    const file = $("file").files[0];
    if (!file) return;
    try {
      const reading = await readImage(file);
      const bitmap = await createImageBitmap(file);
      const canvas = $("photo-canvas");
      canvas.width = bitmap.width; canvas.height = bitmap.height;
      const ctx = canvas.getContext("2d");
      ctx.drawImage(bitmap, 0, 0);
      drawBoxes(ctx, reading);
      $("photo-numbers").textContent = numbersText(reading);
      showError("");
    } catch (e) { showError(e.message); }
  });

  $("webcam-start").addEventListener("click", async () => {
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 } });
    } catch (e) { showError("the browser's camera could not be opened: " + e.message); return; }
    const video = $("webcam-video");
    video.srcObject = stream;
    await video.play();
    const canvas = document.createElement("canvas");
    const loop = async () => {
      if (video.videoWidth) {
        canvas.width = video.videoWidth; canvas.height = video.videoHeight;
        canvas.getContext("2d").drawImage(video, 0, 0);
        const blob = await new Promise((done) => canvas.toBlob(done, "image/jpeg", 0.85));
        try { $("webcam-numbers").textContent = numbersText(await readImage(blob)); showError(""); }
        catch (e) { showError(e.message); }
      }
      setTimeout(loop, 300);
    };
    loop();
  });

  startDevice().catch((e) => showError("the server could not be reached: " + e.message));
})();
