// kerasfer web export: the image side of the pipeline, in plain JavaScript (no DOM, no runtime; Node runs it too).
//
// Each function mirrors the Python function named in its comment, so that the page crops and classifies a face
// the way `kerasfer.FER()` does:
//   detection  kerasfer.data.blazeface (the whole-image pass: the image's longer side on 96 of BlazeFace's
//              128x128 input, SSD anchors, sigmoid scores, weighted non-maximum suppression, five landmarks);
//   alignment  kerasfer.data.align.align_face (similarity transform onto the ArcFace template with the model's
//              crop margin, bilinear warp at an integer multiple of the output size, then an area resize);
//   input      kerasfer.data.pipeline.prepare_images (gray = 0.2989 R + 0.5870 G + 0.1140 B for 1-channel models).
// Images are {data: Uint8ClampedArray|Uint8Array (RGB or RGBA), width, height, channels}.

export const BLAZEFACE_INPUT = 128;
export const WHOLE_IMAGE_FILL = 0.75;
export const MIN_INPUT_FACE = 16.0;
const RAW_SCORE_CLIP = 100.0;
export const GRAY_WEIGHTS = [0.2989, 0.587, 0.114];
export const ARCFACE_TEMPLATE_112 = [
  [38.2946, 51.6963],
  [73.5318, 51.5014],
  [56.0252, 71.7366],
  [41.5493, 92.3655],
  [70.7299, 92.2041],
];
const f32 = Math.fround;

/** Python's round(): halves to even. */
export function roundHalfEven(x) {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** An RGB copy (drops alpha) of an RGBA or RGB image. */
export function toRGB(image) {
  const {width, height} = image;
  const channels = image.channels || image.data.length / (width * height);
  if (channels === 3) return {data: image.data, width, height, channels: 3};
  const out = new Uint8ClampedArray(width * height * 3);
  for (let i = 0, j = 0; i < width * height; i++, j += channels) {
    out[3 * i] = image.data[j];
    out[3 * i + 1] = image.data[j + 1];
    out[3 * i + 2] = image.data[j + 2];
  }
  return {data: out, width, height, channels: 3};
}

// -- resizing (cv2.resize) ---------------------------------------------------------------------------------------
function areaTable(srcSize, dstSize) {
  // cv2's computeResizeAreaTab: each output pixel averages the input pixels its footprint covers, by coverage.
  const scale = srcSize / dstSize;
  const table = [];
  for (let dx = 0; dx < dstSize; dx++) {
    const fsx1 = dx * scale;
    const fsx2 = fsx1 + scale;
    const cellWidth = Math.min(scale, srcSize - fsx1);
    let sx1 = Math.ceil(fsx1);
    let sx2 = Math.floor(fsx2);
    sx2 = Math.min(sx2, srcSize - 1);
    sx1 = Math.min(sx1, sx2);
    const taps = [];
    if (sx1 - fsx1 > 1e-3) taps.push([sx1 - 1, (sx1 - fsx1) / cellWidth]);
    for (let sx = sx1; sx < sx2; sx++) taps.push([sx, 1 / cellWidth]);
    if (fsx2 - sx2 > 1e-3) taps.push([sx2, Math.min(Math.min(fsx2 - sx2, 1), cellWidth) / cellWidth]);
    table.push(taps);
  }
  return table;
}

function linearTable(srcSize, dstSize) {
  // cv2 INTER_LINEAR: half-pixel centres, edge pixels repeated.
  const scale = srcSize / dstSize;
  const table = [];
  for (let dx = 0; dx < dstSize; dx++) {
    const s = (dx + 0.5) * scale - 0.5;
    let x0 = Math.floor(s);
    let t = s - x0;
    if (x0 < 0) {
      x0 = 0;
      t = 0;
    }
    if (x0 >= srcSize - 1) {
      x0 = srcSize - 1;
      t = 0;
    }
    table.push(t === 0 ? [[x0, 1]] : [[x0, 1 - t], [x0 + 1, t]]);
  }
  return table;
}

/** cv2.resize(image, (width, height)) with INTER_AREA (`area`) or INTER_LINEAR; separable, rounded to uint8. */
export function resize(image, width, height, area) {
  const src = toRGB(image);
  const tx = (area ? areaTable : linearTable)(src.width, width);
  const ty = (area ? areaTable : linearTable)(src.height, height);
  const tmp = new Float32Array(src.height * width * 3); // horizontal pass
  for (let y = 0; y < src.height; y++) {
    const row = y * src.width * 3;
    for (let x = 0; x < width; x++) {
      let r = 0;
      let g = 0;
      let b = 0;
      for (const [sx, w] of tx[x]) {
        const i = row + sx * 3;
        r += w * src.data[i];
        g += w * src.data[i + 1];
        b += w * src.data[i + 2];
      }
      const o = (y * width + x) * 3;
      tmp[o] = r;
      tmp[o + 1] = g;
      tmp[o + 2] = b;
    }
  }
  const out = new Uint8ClampedArray(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let r = 0;
      let g = 0;
      let b = 0;
      for (const [sy, w] of ty[y]) {
        const i = (sy * width + x) * 3;
        r += w * tmp[i];
        g += w * tmp[i + 1];
        b += w * tmp[i + 2];
      }
      const o = (y * width + x) * 3;
      out[o] = r; // Uint8ClampedArray rounds and clamps
      out[o + 1] = g;
      out[o + 2] = b;
    }
  }
  return {data: out, width, height, channels: 3};
}

// -- BlazeFace (kerasfer.data.blazeface) -------------------------------------------------------------------------
/** anchor_centres: (x, y) of the SSD anchors of a `height x width` input, in the model's output order. */
export function anchorCentres(height, width) {
  const centres = [];
  for (const [stride, perCell] of [[8, 2], [16, 6]]) {
    const rows = Math.ceil(height / stride);
    const cols = Math.ceil(width / stride);
    for (let y = 0; y < rows; y++) {
      for (let x = 0; x < cols; x++) {
        for (let k = 0; k < perCell; k++) centres.push([(x + 0.5) * stride, (y + 0.5) * stride]);
      }
    }
  }
  return centres;
}

/**
 * The whole-image pass of BlazeFaceDetector.detect_keypoints: the image shrunk (INTER_AREA; enlarged with
 * INTER_LINEAR) so that its longer side fills 96 of the 128x128 input, centred on black, scaled to [-1, 1].
 * Returns {input: Float32Array(1x128x128x3), scaleX, scaleY, offsetX, offsetY}.
 */
export function detectorInput(image) {
  const {width: w, height: h} = image;
  const scale = (WHOLE_IMAGE_FILL * BLAZEFACE_INPUT) / Math.max(w, h);
  const nw = Math.max(1, roundHalfEven(w * scale));
  const nh = Math.max(1, roundHalfEven(h * scale));
  const level = nw === w && nh === h ? toRGB(image) : resize(image, nw, nh, scale < 1.0);
  const side = BLAZEFACE_INPUT;
  const input = new Float32Array(side * side * 3).fill(-1);
  const x0 = Math.floor((side - nw) / 2);
  const y0 = Math.floor((side - nh) / 2);
  const k = f32(1 / 127.5);
  for (let y = 0; y < nh; y++) {
    for (let x = 0; x < nw; x++) {
      const i = (y * nw + x) * 3;
      const o = ((y + y0) * side + x + x0) * 3;
      for (let c = 0; c < 3; c++) input[o + c] = f32(f32(level.data[i + c] * k) - 1);
    }
  }
  return {input, scaleX: nw / w, scaleY: nh / h, offsetX: x0, offsetY: y0};
}

let anchors128 = null;

/** decode + weighted_nms + the pixel mapping of BlazeFaceDetector._run: detections in image pixels, best first. */
export function decodeDetections(rawBoxes, rawScores, prep, threshold = 0.7, iouThreshold = 0.3) {
  anchors128 ??= anchorCentres(BLAZEFACE_INPUT, BLAZEFACE_INPUT);
  const t = Math.min(Math.max(threshold, 1e-6), 1 - 1e-6);
  const minLogit = Math.log(t / (1 - t));
  const found = [];
  for (let i = 0; i < anchors128.length; i++) {
    const logit = Math.min(Math.max(rawScores[i], -RAW_SCORE_CLIP), RAW_SCORE_CLIP);
    if (!(logit > minLogit)) continue;
    const [ax, ay] = anchors128[i];
    const r = rawBoxes.subarray(i * 16, i * 16 + 16);
    const cx = ax + r[0];
    const cy = ay + r[1];
    const box = [cx - r[2] / 2, cy - r[3] / 2, cx + r[2] / 2, cy + r[3] / 2];
    const keypoints = [];
    for (let k = 0; k < 6; k++) keypoints.push([r[4 + 2 * k] + ax, r[5 + 2 * k] + ay]);
    const toImage = ([x, y]) => [(x - prep.offsetX) / prep.scaleX, (y - prep.offsetY) / prep.scaleY];
    const [p0, p1] = [toImage([box[0], box[1]]), toImage([box[2], box[3]])];
    found.push({box: [p0[0], p0[1], p1[0], p1[1]], keypoints: keypoints.map(toImage), score: 1 / (1 + Math.exp(-logit))});
  }
  return weightedNms(found, iouThreshold);
}

function iou(a, b) {
  const x0 = Math.max(a[0], b[0]);
  const y0 = Math.max(a[1], b[1]);
  const x1 = Math.min(a[2], b[2]);
  const y1 = Math.min(a[3], b[3]);
  const inter = Math.max(x1 - x0, 0) * Math.max(y1 - y0, 0);
  const union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
  return union > 0 ? inter / Math.max(union, 1e-12) : 0;
}

/** weighted_nms: overlapping detections (IoU > iouThreshold) averaged by score; the best one's score. */
export function weightedNms(detections, iouThreshold = 0.3) {
  let remaining = detections.map((d, i) => [d, i]).sort((a, b) => b[0].score - a[0].score || a[1] - b[1]);
  remaining = remaining.map(([d]) => d);
  const out = [];
  while (remaining.length) {
    const top = remaining[0];
    const group = remaining.filter((d, i) => i === 0 || iou(top.box, d.box) > iouThreshold);
    const rest = remaining.filter((d, i) => i !== 0 && !(iou(top.box, d.box) > iouThreshold));
    const total = group.reduce((s, d) => s + d.score, 0);
    const box = [0, 0, 0, 0];
    const keypoints = top.keypoints.map(() => [0, 0]);
    for (const d of group) {
      const w = d.score / total;
      d.box.forEach((v, j) => (box[j] += w * v));
      d.keypoints.forEach(([x, y], j) => {
        keypoints[j][0] += w * x;
        keypoints[j][1] += w * y;
      });
    }
    out.push({box, keypoints, score: top.score});
    remaining = rest;
  }
  return out;
}

const TEMPLATE = ARCFACE_TEMPLATE_112;
const dist = (a, b) => Math.hypot(a[0] - b[0], a[1] - b[1]);
const MOUTH_TO_EYE_RATIO = dist(TEMPLATE[4], TEMPLATE[3]) / dist(TEMPLATE[1], TEMPLATE[0]);

/** five_landmarks: [left eye, right eye, nose, mouth left, mouth right] from BlazeFace's six keypoints. */
export function fiveLandmarks(kp) {
  const [eyeL, eyeR, nose, mouth] = [kp[0], kp[1], kp[2], kp[3]];
  const half = [0.5 * MOUTH_TO_EYE_RATIO * (eyeR[0] - eyeL[0]), 0.5 * MOUTH_TO_EYE_RATIO * (eyeR[1] - eyeL[1])];
  return [eyeL, eyeR, nose, [mouth[0] - half[0], mouth[1] - half[1]], [mouth[0] + half[0], mouth[1] + half[1]]];
}

/** clip_box: (x, y, w, h) clipped to the image, as Python-rounded ints, or null. */
export function clipBox([x, y, bw, bh], width, height) {
  const x0 = Math.max(0, x);
  const y0 = Math.max(0, y);
  const x1 = Math.min(width, x + bw);
  const y1 = Math.min(height, y + bh);
  if (x1 - x0 < 1 || y1 - y0 < 1) return null;
  return [roundHalfEven(x0), roundHalfEven(y0), Math.max(1, roundHalfEven(x1 - x0)), Math.max(1, roundHalfEven(y1 - y0))];
}

/**
 * BlazeFaceDetector.__call__ for the whole-image pass: faces {box: [x, y, w, h], landmarks, score}, largest first.
 * `minFaceSize` defaults to the longer side / 6, the value for which `FER(min_face_size=...)` searches this pass
 * alone (kerasfer.data.blazeface.pyramid_scales).
 */
export function facesFromDetections(detections, width, height, minFaceSize = Math.max(width, height) / 6) {
  const faces = [];
  for (const d of detections) {
    const box = clipBox([d.box[0], d.box[1], d.box[2] - d.box[0], d.box[3] - d.box[1]], width, height);
    if (box === null || Math.min(box[2], box[3]) < minFaceSize * 0.5) continue;
    faces.push({box, landmarks: fiveLandmarks(d.keypoints), score: d.score});
  }
  return faces.sort((a, b) => b.box[2] * b.box[3] - a.box[2] * a.box[3] || b.score - a.score);
}

// -- alignment (kerasfer.data.align) -----------------------------------------------------------------------------
/** face_template: the ArcFace points for an (outH, outW) crop with `margin`. */
export function faceTemplate(outH, outW, margin) {
  return TEMPLATE.map(([x, y]) => [
    f32(f32((f32(x / 112) + margin) / (1 + 2 * margin)) * outW),
    f32(f32((f32(y / 112) + margin) / (1 + 2 * margin)) * outH),
  ]);
}

/** similarity_transform (Umeyama): the 2x3 least-squares similarity mapping src onto dst (closed form in 2-D). */
export function similarityTransform(src, dst) {
  const n = src.length;
  const mean = (pts) => pts.reduce((m, p) => [m[0] + p[0] / n, m[1] + p[1] / n], [0, 0]);
  const sm = mean(src);
  const dm = mean(dst);
  let varS = 0;
  let c00 = 0;
  let c01 = 0;
  let c10 = 0;
  let c11 = 0;
  for (let i = 0; i < n; i++) {
    const sx = src[i][0] - sm[0];
    const sy = src[i][1] - sm[1];
    const dx = dst[i][0] - dm[0];
    const dy = dst[i][1] - dm[1];
    varS += (sx * sx + sy * sy) / n;
    c00 += (dx * sx) / n;
    c01 += (dx * sy) / n;
    c10 += (dy * sx) / n;
    c11 += (dy * sy) / n;
  }
  if (varS < 1e-12) throw new Error('The landmarks are all at the same point; cannot align.');
  // The rotation maximising trace(R^T C); its value is the sum of C's singular values (their difference when
  // det C < 0), which is Umeyama's trace(D S).
  const a = c00 + c11;
  const b = c10 - c01;
  const norm = Math.hypot(a, b);
  const cos = a / norm;
  const sin = b / norm;
  const scale = norm / varS;
  const m = [
    [scale * cos, -scale * sin, 0],
    [scale * sin, scale * cos, 0],
  ];
  m[0][2] = dm[0] - (m[0][0] * sm[0] + m[0][1] * sm[1]);
  m[1][2] = dm[1] - (m[1][0] * sm[0] + m[1][1] * sm[1]);
  return m;
}

// cv2.warpAffine's bilinear interpolation works on a 1/32-pixel grid with 15-bit weights.
const INTER_TAB = 32;
const COEF_ONE = 1 << 15;
const WEIGHTS = (() => {
  const table = [];
  for (let ty = 0; ty < INTER_TAB; ty++) {
    for (let tx = 0; tx < INTER_TAB; tx++) {
      const fx = tx / INTER_TAB;
      const fy = ty / INTER_TAB;
      const w = [(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy].map((v) => Math.round(v * COEF_ONE));
      const sum = w[0] + w[1] + w[2] + w[3];
      if (sum !== COEF_ONE) {
        let k = 0;
        for (let j = 1; j < 4; j++) if (w[j] > w[k]) k = j; // cv2 puts the rounding error on the largest weight
        w[k] += COEF_ONE - sum;
      }
      table.push(w);
    }
  }
  return table;
})();

/** cv2.warpAffine(image, m, (outW, outH), INTER_LINEAR, BORDER_CONSTANT 0): `m` maps input to output pixels. */
export function warpAffine(image, m, outW, outH) {
  const src = toRGB(image);
  const det = m[0][0] * m[1][1] - m[0][1] * m[1][0];
  const inv = det !== 0 ? 1 / det : 0;
  const a = m[1][1] * inv;
  const b = -m[0][1] * inv;
  const d = -m[1][0] * inv;
  const e = m[0][0] * inv;
  const c = -a * m[0][2] - b * m[1][2];
  const f = -d * m[0][2] - e * m[1][2];
  const out = new Uint8ClampedArray(outW * outH * 3);
  const {width: W, height: H, data} = src;
  const AB = 1024; // cv2's AB_SCALE
  for (let y = 0; y < outH; y++) {
    const X0 = Math.round((b * y + c) * AB) + 16;
    const Y0 = Math.round((e * y + f) * AB) + 16;
    for (let x = 0; x < outW; x++) {
      const X = (X0 + Math.round(a * x * AB)) >> 5;
      const Y = (Y0 + Math.round(d * x * AB)) >> 5;
      const sx = X >> 5;
      const sy = Y >> 5;
      const w = WEIGHTS[(Y & 31) * INTER_TAB + (X & 31)];
      const o = (y * outW + x) * 3;
      for (let ch = 0; ch < 3; ch++) {
        let acc = 0;
        for (let k = 0; k < 4; k++) {
          const px = sx + (k & 1);
          const py = sy + (k >> 1);
          if (px >= 0 && py >= 0 && px < W && py < H) acc += w[k] * data[(py * W + px) * 3 + ch];
        }
        out[o + ch] = (acc + (1 << 14)) >> 15;
      }
    }
  }
  return {data: out, width: outW, height: outH, channels: 3};
}

/** align_face with landmarks: the aligned (outH x outW) RGB crop. */
export function alignFace(image, landmarks, outH, outW, margin) {
  let img = toRGB(image);
  let m = similarityTransform(landmarks, faceTemplate(outH, outW, margin));
  // Pixel-index (InsightFace) coordinates -> pixel-edge coordinates, like the box branch.
  for (const row of m) row[2] = row[2] + 0.5 - (row[0] * 0.5 + row[1] * 0.5);
  let scale = Math.sqrt(Math.abs(m[0][0] * m[1][1] - m[0][1] * m[1][0]));
  if (!Number.isFinite(scale) || scale <= 0) throw new Error('Degenerate face geometry.');
  const pre = Math.min(1, 8 * scale, 32000 / Math.max(img.width, img.height));
  if (pre < 1) {
    const small = resize(img, Math.max(1, roundHalfEven(img.width * pre)), Math.max(1, roundHalfEven(img.height * pre)), true);
    const fx = small.width / img.width;
    const fy = small.height / img.height;
    m = [
      [m[0][0] / fx, m[0][1] / fy, m[0][2]],
      [m[1][0] / fx, m[1][1] / fy, m[1][2]],
    ];
    img = small;
    scale = Math.sqrt(Math.abs(m[0][0] * m[1][1] - m[0][1] * m[1][0]));
  }
  const factor = Math.min(8, Math.max(1, Math.floor(1 / scale + 1e-6)));
  const big = m.map((row) => row.map((v) => v * factor));
  for (const row of big) row[2] = row[2] + (row[0] * 0.5 + row[1] * 0.5) - 0.5;
  const crop = warpAffine(img, big, outW * factor, outH * factor);
  return factor > 1 ? resize(crop, outW, outH, true) : crop;
}

/** prepare_images for a crop already at the input size: float32 pixels in [0, 255], gray for 1 channel. */
export function modelInput(crop, channels) {
  const n = crop.width * crop.height;
  const out = new Float32Array(n * channels);
  const [wr, wg, wb] = GRAY_WEIGHTS.map(f32);
  for (let i = 0; i < n; i++) {
    const r = crop.data[3 * i];
    const g = crop.data[3 * i + 1];
    const b = crop.data[3 * i + 2];
    if (channels === 1) out[i] = Math.min(255, Math.max(0, f32(f32(f32(r * wr) + f32(g * wg)) + f32(b * wb))));
    else out.set([r, g, b], 3 * i);
  }
  return out;
}

/** kerasfer.runtime.runners._to_probabilities: the classifier's outputs as probabilities ('auto': a softmax
 * unless they already are non-negative and sum to 1). */
export function toProbabilities(values, mode) {
  const v = Array.from(values);
  if (mode === 'probabilities') return v;
  const sum = v.reduce((a, b) => a + b, 0);
  if (mode !== 'logits' && Math.min(...v) >= -1e-6 && Math.abs(sum - 1) <= 1e-3 + 1e-5) return v;
  const top = Math.max(...v);
  const e = v.map((x) => Math.exp(x - top));
  const total = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / total);
}
