// movinet serve: the live page. Plays the camera or a local video file, sends frames to /ws at the
// model's stream rate (JPEG, shorter side = the model's resize), and shows the live top-5, the
// model's per-step latency, the frames per second actually served, and the centre crop the model
// sees. It only says "classifying" while frames are really being classified. No build step.
"use strict";

const MAX_IN_FLIGHT = 2; // frames awaiting their reply; more would only queue on the server
const JPEG_QUALITY = 0.9;
const RETRY_MAX_S = 10;
const CLOSE = { restart: 1012, full: 1013, policy: 1008, idle: 4408 };

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
  fileName: null,
  playing: false,
  cameraError: null,
  sourceError: null,
  shuttingDown: false, // the server said server_shutdown: send nothing more on this connection
  idle: false, // the server closed the stream for want of frames; a new source reconnects
  crops: 0,
  resetsPending: 0, // resets sent and not yet confirmed: results before the confirmation are a past source's
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

// -- the result panel ----------------------------------------------------------------------------------

function clearResults() {
  $("top1").textContent = "–";
  $("topk").replaceChildren();
  $("frames").textContent = "0";
  $("results").dataset.frames = "0";
  $("results").classList.remove("stale");
  blankLiveFigures();
}

function blankLiveFigures() {
  for (const id of ["latency", "batch", "served"]) $(id).textContent = "–";
}

function markResultsStale() {
  // The last result stays readable but greyed: it is no longer live.
  $("results").classList.add("stale");
  blankLiveFigures();
}

function showWarning(text) {
  const box = $("last-error");
  box.hidden = false;
  box.textContent = text;
}

function clearWarning() {
  const box = $("last-error");
  box.hidden = true;
  box.textContent = "";
}

// -- the model -------------------------------------------------------------------------------------

async function loadModel() {
  try {
    const response = await fetch("/model", { cache: "no-store" });
    if (response.status === 401) throw new Error("this server needs its token: open the URL it printed");
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    page.model = await response.json();
  } catch (error) {
    return error.message;
  }
  const m = page.model;
  page.fps = m.stream_fps;
  page.sendShortSide = m.frame.send_short_side;
  page.maxSide = m.frame.max_side;
  $("model").textContent = `${m.name} · ${m.num_classes} classes · ` +
    `${m.preprocessing.height}×${m.preprocessing.width} px at ${m.stream_fps} fps · ${m.backend}`;
  $("fps").textContent = String(m.stream_fps);
  $("crop").width = m.preprocessing.width;
  $("crop").height = m.preprocessing.height;
  $("crop-size").textContent = `${m.preprocessing.width}×${m.preprocessing.height}`;
  return null;
}

// -- the connection ----------------------------------------------------------------------------------

function connect() {
  clearTimeout(page.retryTimer);
  page.retryTimer = null;
  page.resetsPending = 0;
  page.idle = false;
  page.shuttingDown = false;
  const ws = new WebSocket(wsUrl());
  ws.binaryType = "arraybuffer";
  page.ws = ws;
  page.inFlight = 0;
  let refusal = null; // the error message a refused stream gets before its close
  ws.onmessage = (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "error" && message.frame === null) refusal = message;
    onMessage(message);
  };
  ws.onclose = (event) => {
    if (page.ws !== ws) return;
    page.ws = null;
    page.inFlight = 0;
    onClosed(event.code, refusal);
  };
}

function onClosed(code, refusal) {
  markResultsStale();
  if (code === CLOSE.idle) {
    page.idle = true;
    setStatus("info", "Paused: no frames came for a while, so the server closed the stream. Choose a video " +
      "file or use the camera to go on.");
    return;
  }
  let kind = "error";
  let why;
  if (code === CLOSE.full) {
    kind = "warn";
    why = refusal && refusal.code === "too_many_client_streams"
      ? "This browser already has as many streams open as the server allows (close other tabs)"
      : "The server is full (it serves as many streams as it can)";
  } else if (code === CLOSE.restart) {
    why = "Server gone: it is shutting down or restarting";
  } else if (code === CLOSE.policy && refusal) {
    why = `The server refused the stream (${refusal.message})`;
  } else {
    why = `Server gone: the connection closed (code ${code})`;
  }
  retryLater(kind, why);
}

function retryLater(kind, why) {
  const delay = page.retryS;
  page.retryS = Math.min(RETRY_MAX_S, page.retryS * 2);
  document.body.dataset.retryS = String(delay);
  setStatus(kind, `${why}. Retrying in ${delay} s…`);
  page.retryTimer = setTimeout(async () => {
    const error = await loadModel();
    if (error === null) connect();
    else retryLater("error", `Server gone: it cannot be reached (${error})`);
  }, delay * 1000);
}

function onMessage(message) {
  switch (message.type) {
    case "hello":
      page.retryS = 1; // only a stream that really started resets the back-off
      delete document.body.dataset.retryS;
      page.fps = message.fps;
      page.sendShortSide = message.frame.send_short_side;
      page.maxSide = message.frame.max_side;
      clearWarning();
      clearResults();
      restartSender();
      describeSource();
      break;
    case "result":
      page.inFlight = Math.max(0, page.inFlight - 1);
      if (page.resetsPending === 0) showResult(message); // else the result of a source shown before
      break;
    case "dropped":
      page.inFlight = Math.max(0, page.inFlight - 1);
      page.dropped = message.dropped;
      $("dropped").textContent = String(message.dropped);
      showWarning(message.message);
      break;
    case "error":
      if (message.frame !== null) page.inFlight = Math.max(0, page.inFlight - 1);
      if (message.code === "server_shutdown") page.shuttingDown = true;
      showWarning(`${message.code}: ${message.message}`);
      break;
    case "reset":
      page.resetsPending = Math.max(0, page.resetsPending - 1);
      clearResults();
      break;
    default:
      break;
  }
}

function showResult(message) {
  const best = message.top_k[0];
  $("results").classList.remove("stale");
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
    newSource("camera", null);
    video.srcObject = stream;
    video.loop = false;
    await video.play();
    page.cameraError = null;
  } catch (error) {
    page.cameraError = error.name === "NotAllowedError" ? "camera access was refused"
      : error.name === "NotFoundError" ? "no camera was found"
      : `the camera could not be opened (${error.name}: ${error.message})`;
  }
  describeSource();
}

function startFile(file) {
  const video = $("video");
  newSource("file", file.name);
  video.srcObject = null;
  video.src = URL.createObjectURL(file);
  video.loop = false;
  video.play().catch(() => {}); // an unplayable file is reported by the video's "error" event
  describeSource();
}

function newSource(kind, fileName) {
  stopSource();
  page.source = kind;
  page.fileName = fileName;
  page.playing = false;
  page.sourceError = null;
  clearResults();
  clearWarning();
  sendReset();
  if (!page.ws && !page.retryTimer) connect(); // after an idle close: the new source reconnects
}

function stopSource() {
  const video = $("video");
  if (video.srcObject) video.srcObject.getTracks().forEach((track) => track.stop());
  if (video.src) URL.revokeObjectURL(video.src);
  video.removeAttribute("src");
  page.playing = false;
}

function describeSource() {
  if (page.sourceError) {
    setStatus("warn", page.sourceError);
    return;
  }
  if (!page.ws || page.ws.readyState !== WebSocket.OPEN) return;
  if (page.source === "none") {
    setStatus(page.cameraError ? "warn" : "info", page.cameraError
      ? `Camera unavailable: ${page.cameraError}. Choose a video file instead.`
      : "Connected. Allow the camera or choose a video file.");
  } else if (!page.playing) {
    setStatus("info", page.source === "file" ? `Opening ${page.fileName}…` : "Starting the camera…");
  } else {
    setStatus("ok", `Connected: classifying the ${page.source} at ${page.fps} fps.`);
  }
}

function onVideoError() {
  const video = $("video");
  if (page.source === "none" || !video.error) return;
  const what = page.source === "file" ? `The file ${page.fileName}` : "The camera stream";
  const reason = video.error.code === 4 ? "its format is not one this browser plays" : `error ${video.error.code}`;
  page.sourceError = `${what} cannot be played (${reason}); nothing is being classified. ` +
    "Choose an MP4 (H.264) or WebM file, or use the camera.";
  page.source = "none";
  page.playing = false;
  clearResults();
  describeSource();
}

// -- sending frames ----------------------------------------------------------------------------------

function restartSender() {
  clearInterval(page.timer);
  page.timer = setInterval(sendFrame, 1000 / page.fps);
}

function sendReset() {
  if (page.ws && page.ws.readyState === WebSocket.OPEN && !page.shuttingDown) {
    page.ws.send(JSON.stringify({ type: "reset" }));
    page.resetsPending += 1;
  }
}

function frameSize(width, height) {
  // The server resizes the shorter side to the model's `resize` anyway: send exactly that much.
  const scale = Math.min(page.sendShortSide / Math.min(width, height), page.maxSide / Math.max(width, height));
  return [Math.max(1, Math.round(width * scale)), Math.max(1, Math.round(height * scale))];
}

function cropRegion(width, height) {
  // The part of a width x height frame the model sees: the preprocessing's resize, then the centre
  // crop (movinet.data.preprocessing: "tf" keeps the aspect, "paddle" makes the long side 4/3 of the short).
  const prep = page.model.preprocessing;
  let resizedW;
  let resizedH;
  if (prep.preset === "paddle") {
    const long = Math.round(prep.resize * 4 / 3);
    [resizedW, resizedH] = width >= height ? [long, prep.resize] : [prep.resize, long];
  } else {
    const scale = prep.resize / Math.min(width, height);
    [resizedW, resizedH] = [width * scale, height * scale];
  }
  const cropW = Math.min(prep.width, resizedW) * width / resizedW;
  const cropH = Math.min(prep.height, resizedH) * height / resizedH;
  return [(width - cropW) / 2, (height - cropH) / 2, cropW, cropH];
}

function showCrop(video) {
  if (!page.model) return;
  const crop = $("crop");
  const [x, y, w, h] = cropRegion(video.videoWidth, video.videoHeight);
  crop.getContext("2d").drawImage(video, x, y, w, h, 0, 0, crop.width, crop.height);
  page.crops += 1;
  crop.dataset.frames = String(page.crops);
}

function sendFrame() {
  const ws = page.ws;
  const video = $("video");
  if (!ws || ws.readyState !== WebSocket.OPEN || page.source === "none" || page.shuttingDown) return;
  if (video.readyState < 2 || video.paused || video.ended || !video.videoWidth) return;
  if (page.inFlight >= MAX_IN_FLIGHT) return;
  const [width, height] = frameSize(video.videoWidth, video.videoHeight);
  const canvas = $("canvas");
  canvas.width = width;
  canvas.height = height;
  canvas.getContext("2d").drawImage(video, 0, 0, width, height);
  showCrop(video);
  page.inFlight += 1;
  canvas.toBlob((blob) => {
    if (blob && ws.readyState === WebSocket.OPEN && page.ws === ws && !page.shuttingDown) ws.send(blob);
    else page.inFlight = Math.max(0, page.inFlight - 1);
  }, "image/jpeg", JPEG_QUALITY);
}

// -- start -------------------------------------------------------------------------------------------

$("camera").addEventListener("click", startCamera);
$("file").addEventListener("change", (event) => {
  if (event.target.files.length) startFile(event.target.files[0]);
  event.target.value = ""; // choosing the same file again is a new source too
});
$("reset").addEventListener("click", sendReset);
$("video").addEventListener("playing", () => {
  if (page.source === "none") return;
  page.playing = true;
  describeSource();
});
$("video").addEventListener("error", onVideoError);
$("video").addEventListener("ended", () => {
  if (page.source !== "file") return;
  page.playing = false;
  setStatus("info", `The file ${page.fileName} ended. Choose another, or use the camera.`);
});

(async function main() {
  if (new URLSearchParams(location.search).has("token")) {
    // The server set a cookie for it; keep the token out of the address bar, history and screenshots.
    history.replaceState(null, "", location.pathname);
  }
  setStatus("info", "Connecting…");
  let error;
  while ((error = await loadModel()) !== null) {
    setStatus("error", `Server gone: it cannot be reached (${error}). Retrying in 2 s…`);
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
  connect();
  startCamera();
})();
