// kerasfer web export: the page. Camera or dropped file -> BlazeFace -> aligned crop -> classifier -> drawing.
// Every frame is read from the <video>/<img> into a canvas of this page and stays there: nothing is sent anywhere.
import * as P from './pipeline.js';
import {startRuntime, TFLiteModel, webgpuAdapter} from './runtime.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const state = {config: null, detector: null, classifier: null, backend: null, adapter: null, loopId: 0,
  frames: 0, fps: 0, lastFaces: [], lastTimes: null, source: null};

async function loadConfig() {
  const response = await fetch('kerasfer_web.json');
  if (!response.ok) throw new Error(`kerasfer_web.json: HTTP ${response.status}`);
  return response.json();
}

async function loadModels(backend) {
  const {config} = state;
  state.detector = await TFLiteModel.load(config.detector.file, backend);
  state.classifier = await TFLiteModel.load(config.model.file, backend);
  state.backend = backend;
  const full = state.detector.fullyAccelerated && state.classifier.fullyAccelerated;
  $('backend').textContent = backend === 'webgpu' ? `WebGPU (${state.adapter})${full ? '' : ', partly on WASM'}` : 'WASM (CPU)';
}

/** Detects, aligns and classifies the faces of one RGBA ImageData. */
export async function analyze(image) {
  const {config, detector, classifier} = state;
  const t0 = performance.now();
  const prep = P.detectorInput({data: image.data, width: image.width, height: image.height, channels: 4});
  const outputs = await detector.run(prep.input);
  const boxesAt = detector.outputs.findIndex((o) => o.shape[o.shape.length - 1] === 16);
  const det = P.decodeDetections(outputs[boxesAt], outputs[1 - boxesAt], prep, config.detector.threshold,
    config.detector.iou_threshold);
  let faces = P.facesFromDetections(det, image.width, image.height, config.detector.min_face_fraction *
    Math.max(image.width, image.height));
  if (config.max_faces) faces = faces.slice(0, config.max_faces);
  const t1 = performance.now();
  const [h, w, c] = config.model.input_shape;
  const rgb = P.toRGB({data: image.data, width: image.width, height: image.height, channels: 4});
  for (const face of faces) {
    const crop = P.alignFace(rgb, face.landmarks, h, w, config.model.align_margin);
    const [scores] = await classifier.run(P.modelInput(crop, c));
    face.probabilities = P.toProbabilities(scores, config.model.output);
    const top = face.probabilities.indexOf(Math.max(...face.probabilities));
    face.label = config.model.labels[top];
  }
  const t2 = performance.now();
  return {faces, times: {detect_ms: t1 - t0, classify_ms: t2 - t1, total_ms: t2 - t0}};
}

/** Copies the current frame of an <img> or <video> into `canvas`; returns its RGBA pixels. */
function grab(source, canvas) {
  const w = source.videoWidth || source.naturalWidth || source.width;
  const h = source.videoHeight || source.naturalHeight || source.height;
  if (canvas.width !== w || canvas.height !== h) {
    canvas.width = w;
    canvas.height = h;
  }
  const ctx = canvas.getContext('2d', {willReadFrequently: true});
  ctx.drawImage(source, 0, 0, w, h);
  return ctx.getImageData(0, 0, w, h);
}

function draw(faces) {
  const canvas = $('view');
  const ctx = canvas.getContext('2d');
  const lw = Math.max(1, canvas.width / 320); // sizes follow the canvas, which CSS shows 640 pixels wide
  ctx.lineWidth = lw;
  ctx.font = `${Math.round(Math.max(8, canvas.width / 28))}px sans-serif`;
  for (const face of faces) {
    const [x, y, w, h] = face.box;
    ctx.strokeStyle = '#33dd66';
    ctx.strokeRect(x, y, w, h);
    const p = Math.max(...face.probabilities);
    const text = `${face.label} ${(100 * p).toFixed(0)}%`;
    const tw = ctx.measureText(text).width;
    const th = parseInt(ctx.font, 10);
    ctx.fillStyle = 'rgba(0,0,0,0.6)';
    ctx.fillRect(x, Math.max(0, y - th - 6), tw + 8, th + 6);
    ctx.fillStyle = '#ffffff';
    ctx.fillText(text, x + 4, Math.max(th, y - 5));
    ctx.fillStyle = '#ffcc00';
    for (const [px, py] of face.landmarks) ctx.fillRect(px - lw, py - lw, 2 * lw, 2 * lw);
  }
  const bars = $('bars');
  bars.replaceChildren();
  if (!faces.length) return;
  const {labels} = state.config.model;
  faces[0].probabilities.forEach((p, i) => {
    const row = document.createElement('div');
    row.className = 'bar';
    row.innerHTML = `<span>${labels[i]}</span><i style="width:${(100 * p).toFixed(1)}%"></i><b>${p.toFixed(3)}</b>`;
    bars.appendChild(row);
  });
}

/** Shows the analyzed frame (`frame`, a canvas) with its faces. */
function showResult(frame, result) {
  const view = $('view');
  if (view.width !== frame.width || view.height !== frame.height) {
    view.width = frame.width;
    view.height = frame.height;
  }
  view.getContext('2d').drawImage(frame, 0, 0);
  draw(result.faces);
  state.lastFaces = result.faces;
  state.lastTimes = result.times;
  $('faces').textContent = `${result.faces.length} face${result.faces.length === 1 ? '' : 's'}`;
}

async function loop(video) {
  const work = document.createElement('canvas');
  let last = performance.now();
  const id = ++state.loopId; // a newer loop, an image or a benchmark ends this one
  state.source = video;
  while (state.loopId === id && !video.ended) {
    // Wait for the next frame: this also lets the page handle events (WASM runs resolve at once).
    await new Promise((resolve) =>
      video.requestVideoFrameCallback ? video.requestVideoFrameCallback(() => resolve()) : setTimeout(resolve, 0));
    if (video.readyState < 2) continue;
    const result = await analyze(grab(video, work));
    showResult(work, result);
    const now = performance.now();
    state.frames += 1;
    state.fps = state.fps ? 0.8 * state.fps + 0.2 * (1000 / (now - last)) : 1000 / (now - last);
    last = now;
    $('fps').textContent = `${state.fps.toFixed(1)} fps (detect ${result.times.detect_ms.toFixed(0)} ms, ` +
      `classify ${result.times.classify_ms.toFixed(0)} ms)`;
  }
}

function useVideo(setup) {
  state.loopId += 1;
  const video = $('video');
  setup(video);
  video.muted = true;
  video.playsInline = true;
  return video.play().then(() => loop(video));
}

export async function startCamera() {
  const stream = await navigator.mediaDevices.getUserMedia({video: {width: 640, height: 480}, audio: false});
  useVideo((video) => {
    video.srcObject = stream;
  });
}

/** Analyzes one image (a URL or a File) and shows it; returns the faces (box, landmarks, score, probabilities). */
export async function analyzeImage(source) {
  state.loopId += 1;
  const img = new Image();
  img.src = typeof source === 'string' ? source : URL.createObjectURL(source);
  await img.decode();
  const frame = document.createElement('canvas');
  const result = await analyze(grab(img, frame));
  showResult(frame, result);
  return result.faces.map(({box, landmarks, score, probabilities, label}) => ({box, landmarks, score, probabilities,
    label}));
}

/**
 * Back-to-back pipeline runs on the current frames of the running video (camera or file) for `seconds`, without
 * waiting for new frames or drawing: {frames, fps, detect_ms, classify_ms, faces} (means).
 */
export async function benchmark(seconds = 5) {
  const video = state.source;
  if (!video) throw new Error('Start the camera or a video first.');
  state.loopId += 1; // the display loop stops; it is restarted below
  const work = document.createElement('canvas');
  let frames = 0;
  let detect = 0;
  let classify = 0;
  let faces = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) {
    const result = await analyze(grab(video, work));
    frames += 1;
    detect += result.times.detect_ms;
    classify += result.times.classify_ms;
    faces += result.faces.length;
  }
  const elapsed = performance.now() - t0;
  loop(video);
  return {frames, fps: (1000 * frames) / elapsed, detect_ms: detect / frames, classify_ms: classify / frames,
    faces: faces / frames};
}

function openFile(file) {
  if (file.type.startsWith('video/')) {
    useVideo((video) => {
      video.srcObject = null;
      video.src = URL.createObjectURL(file);
      video.loop = true;
    });
  } else {
    analyzeImage(file);
  }
}

async function main() {
  state.config = await loadConfig();
  $('model').textContent = `${state.config.model.name} (${state.config.model.quantization}), input ` +
    `${state.config.model.input_shape.join('x')}`;
  state.adapter = await webgpuAdapter();
  const wanted = params.get('backend') || (state.adapter ? 'webgpu' : 'wasm');
  const backend = wanted === 'webgpu' && !state.adapter ? 'wasm' : wanted;
  $('backend').textContent = 'loading LiteRT.js ...';
  state.runtime = await startRuntime(state.config.litert);
  await loadModels(backend);
  $('camera').onclick = () => startCamera().catch((e) => ($('error').textContent = `Camera: ${e.message}`));
  $('file').onchange = (e) => e.target.files[0] && openFile(e.target.files[0]);
  document.body.ondragover = (e) => e.preventDefault();
  document.body.ondrop = (e) => {
    e.preventDefault();
    if (e.dataTransfer.files[0]) openFile(e.dataTransfer.files[0]);
  };
  const select = $('backend-choice');
  select.value = backend;
  if (!state.adapter) select.querySelector('option[value=webgpu]').disabled = true;
  select.onchange = () => {
    const url = new URL(location.href);
    url.searchParams.set('backend', select.value);
    location.href = url.href;
  };
  if (params.get('camera') === '1') await startCamera();
}

// For scripts driving the page (the browser test, the benchmark): read-only state and the entry points.
window.kerasfer = {
  ready: main().catch((e) => {
    $('error').textContent = `${e.message}`;
    throw e;
  }),
  analyzeImage,
  startCamera,
  benchmark,
  stats: () => ({backend: state.backend, adapter: state.adapter, runtime: state.runtime, frames: state.frames,
    fps: state.fps, faces: state.lastFaces.map(({box, label, score}) => ({box, label, score})), times: state.lastTimes,
    fully_accelerated: state.detector && state.detector.fullyAccelerated && state.classifier.fullyAccelerated}),
};
