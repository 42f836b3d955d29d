// movinet serve: the live page. Plays the camera or a local video file, sends frames to /ws at the
// model's stream rate (JPEG, shorter side = the model's resize), and shows the live top-5, the
// model's per-step latency and the frames per second actually served. No build step.
"use strict";

const MAX_IN_FLIGHT = 2; // frames awaiting their reply; more would only queue on the server
const JPEG_QUALITY = 0.9;
const RETRY_MAX_S = 10;

const $ = (id) => document.getElementById(id);
const page = {
  model: null,
  ws: null,
  fps: 5,
  sendShortSide: 172,
  maxSide: 1920,
  inFlight: 0,
  timer: null,
  retryS: 1,
  retryTimer: null,
  dropped: 0,
  source: "none", // "camera" | "file" | "none"
  cameraError: null,
};

function setStatus(kind, text) {
  const box = $("status");
  box.className = "status " + kind;
  box.textContent = text;
  document.body.dataset.status = kind;
}

function wsUrl() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/ws`;
}

// -- the model -------------------------------------------------------------------------------------

async function loadModel() {
  try {
    const response = await fetch("/model", { cache: "no-store" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    page.model = await response.json();
  } catch (error) {
    setStatus("error", `Server gone: it cannot be reached (${error.message}). Reconnecting…`);
    return false;
  }
  const m = page.model;
  page.fps = m.stream_fps;
  page.sendShortSide = m.frame.send_short_side;
  page.maxSide = m.frame.max_side;
  $("model").textContent = `${m.name} · ${m.num_classes} classes · ` +
    `${m.preprocessing.height}×${m.preprocessing.width} px at ${m.stream_fps} fps · ${m.backend}`;
  $("fps").textContent = String(m.stream_fps);
  return true;
}

// -- the connection ----------------------------------------------------------------------------------

function connect() {
  clearTimeout(page.retryTimer);
  const ws = new WebSocket(wsUrl());
  ws.binaryType = "arraybuffer";
  page.ws = ws;
  page.inFlight = 0;
  ws.onopen = () => {
    page.retryS = 1;
    describeSource();
  };
  ws.onmessage = (event) => onMessage(JSON.parse(event.data));
  ws.onclose = (event) => {
    if (page.ws !== ws) return;
    page.ws = null;
    page.inFlight = 0;
    const why = event.code === 1013 ? "the server is full (too many streams)"
      : event.code === 1012 ? "the server is shutting down"
      : `the connection closed (code ${event.code})`;
    setStatus("error", `Server gone: ${why}. Reconnecting in ${page.retryS} s…`);
    page.retryTimer = setTimeout(async () => {
      if (await loadModel()) connect();
      else page.retryTimer = setTimeout(connect, page.retryS * 1000);
    }, page.retryS * 1000);
    page.retryS = Math.min(RETRY_MAX_S, page.retryS * 2);
  };
}

function onMessage(message) {
  switch (message.type) {
    case "hello":
      page.fps = message.fps;
      page.sendShortSide = message.frame.send_short_side;
      page.maxSide = message.frame.max_side;
      restartSender();
      break;
    case "result":
      page.inFlight = Math.max(0, page.inFlight - 1);
      showResult(message);
      break;
    case "dropped":
      page.inFlight = Math.max(0, page.inFlight - 1);
      page.dropped = message.dropped;
      $("dropped").textContent = String(message.dropped);
      showWarning(message.message);
      break;
    case "error":
      if (message.frame !== null) page.inFlight = Math.max(0, page.inFlight - 1);
      showWarning(`${message.code}: ${message.message}`);
      break;
    case "reset":
      $("frames").textContent = "0";
      $("results").dataset.frames = "0";
      break;
    default:
      break;
  }
}

function showWarning(text) {
  const box = $("last-error");
  box.hidden = false;
  box.textContent = text;
}

function showResult(message) {
  const best = message.top_k[0];
  $("top1").textContent = labelOf(best);
  const list = $("topk");
  list.replaceChildren(...message.top_k.map((entry) => {
    const item = document.createElement("li");
    item.dataset.label = labelOf(entry);
    const label = document.createElement("span");
    label.className = "label";
    label.textContent = labelOf(entry);
    label.title = label.textContent;
    const track = document.createElement("span");
    track.className = "track";
    const bar = document.createElement("span");
    bar.className = "bar";
    bar.style.display = "block";
    bar.style.width = `${(100 * entry.score).toFixed(1)}%`;
    track.append(bar);
    const score = document.createElement("span");
    score.className = "score";
    score.textContent = `${(100 * entry.score).toFixed(1)}%`;
    item.append(label, track, score);
    return item;
  }));
  $("latency").textContent = message.latency_ms.toFixed(1);
  $("batch").textContent = String(message.batch);
  $("served").textContent = message.served_fps.toFixed(1);
  $("frames").textContent = String(message.frames);
  $("results").dataset.frames = String(message.frames);
}

function labelOf(entry) {
  return entry.label !== null && entry.label !== undefined ? entry.label : `class ${entry.class}`;
}

// -- sources ---------------------------------------------------------------------------------------

async function startCamera() {
  const video = $("video");
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    page.cameraError = "this browser gives no camera access here (it needs https or localhost)";
    describeSource();
    return;
  }
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
    stopSource();
    video.srcObject = stream;
    video.loop = false;
    await video.play();
    page.source = "camera";
    page.cameraError = null;
    sendReset();
  } catch (error) {
    page.cameraError = error.name === "NotAllowedError" ? "camera access was refused"
      : error.name === "NotFoundError" ? "no camera was found"
      : `the camera could not be opened (${error.name}: ${error.message})`;
  }
  describeSource();
}

function startFile(file) {
  const video = $("video");
  stopSource();
  video.srcObject = null;
  video.src = URL.createObjectURL(file);
  video.loop = false;
  video.play().catch(() => {});
  page.source = "file";
  sendReset();
  describeSource();
}

function stopSource() {
  const video = $("video");
  if (video.srcObject) video.srcObject.getTracks().forEach((track) => track.stop());
  if (video.src) URL.revokeObjectURL(video.src);
}

function describeSource() {
  if (!page.ws || page.ws.readyState !== WebSocket.OPEN) return;
  if (page.source === "none") {
    setStatus(page.cameraError ? "warn" : "info", page.cameraError
      ? `Camera unavailable: ${page.cameraError}. Choose a video file instead.`
      : "Connected. Allow the camera or choose a video file.");
  } else {
    setStatus("ok", `Connected: classifying the ${page.source} at ${page.fps} fps.`);
  }
}

// -- sending frames ----------------------------------------------------------------------------------

function restartSender() {
  clearInterval(page.timer);
  page.timer = setInterval(sendFrame, 1000 / page.fps);
}

function sendReset() {
  if (page.ws && page.ws.readyState === WebSocket.OPEN) page.ws.send(JSON.stringify({ type: "reset" }));
}

function frameSize(width, height) {
  // The server resizes the shorter side to the model's `resize` anyway: send exactly that much.
  const scale = Math.min(page.sendShortSide / Math.min(width, height), page.maxSide / Math.max(width, height));
  return [Math.max(1, Math.round(width * scale)), Math.max(1, Math.round(height * scale))];
}

function sendFrame() {
  const ws = page.ws;
  const video = $("video");
  if (!ws || ws.readyState !== WebSocket.OPEN || page.source === "none") return;
  if (video.readyState < 2 || video.paused || video.ended || !video.videoWidth) return;
  if (page.inFlight >= MAX_IN_FLIGHT) return;
  const [width, height] = frameSize(video.videoWidth, video.videoHeight);
  const canvas = $("canvas");
  canvas.width = width;
  canvas.height = height;
  canvas.getContext("2d").drawImage(video, 0, 0, width, height);
  page.inFlight += 1;
  canvas.toBlob((blob) => {
    if (blob && ws.readyState === WebSocket.OPEN && page.ws === ws) ws.send(blob);
    else page.inFlight = Math.max(0, page.inFlight - 1);
  }, "image/jpeg", JPEG_QUALITY);
}

// -- start -------------------------------------------------------------------------------------------

$("camera").addEventListener("click", startCamera);
$("file").addEventListener("change", (event) => {
  if (event.target.files.length) startFile(event.target.files[0]);
});
$("reset").addEventListener("click", sendReset);
$("video").addEventListener("ended", () => {
  if (page.source === "file") setStatus("info", "The video file ended. Choose another, or use the camera.");
});

(async function main() {
  setStatus("info", "Connecting…");
  while (!(await loadModel())) await new Promise((resolve) => setTimeout(resolve, 2000));
  connect();
  startCamera();
})();
