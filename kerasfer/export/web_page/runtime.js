// kerasfer web export: LiteRT.js (npm @litertjs/core, Apache-2.0) loading and model runs.
//
// The import map in index.html pins the runtime's two ES modules with subresource-integrity hashes. Its
// WebAssembly (the glue script and the .wasm binary) is fetched here with the hashes of kerasfer_web.json, so the
// browser refuses any byte that differs from the pinned release, whether it comes from the CDN or a local copy.
import {loadLiteRt, loadAndCompile, Tensor, supportsFeature} from '@litertjs/core';

async function fetchChecked(entry) {
  let response;
  try {
    response = await fetch(entry.url, {integrity: entry.integrity});
  } catch (e) {
    throw new Error(`Cannot load ${entry.url}: ${e.message} (offline, or its hash differs from the pinned one)`);
  }
  if (!response.ok) throw new Error(`Cannot load ${entry.url}: HTTP ${response.status}`);
  return response.arrayBuffer();
}

let loading = null;

/** Loads LiteRT.js's WebAssembly once (the relaxed-SIMD build where the browser has it, else the compatible one). */
export function startRuntime(litert) {
  loading ??= (async () => {
    const name = (await supportsFeature('relaxedSimd')) ? 'litert_wasm_internal' : 'litert_wasm_compat_internal';
    const [glue, binary] = await Promise.all([
      fetchChecked(litert.wasm[`${name}.js`]),
      fetchChecked(litert.wasm[`${name}.wasm`]),
    ]);
    self.Module = {wasmBinary: binary}; // read by the glue's ModuleFactory: no second, unchecked fetch
    const url = URL.createObjectURL(new Blob([glue], {type: 'text/javascript'}));
    try {
      await loadLiteRt(`${url}#${name}.js`); // the '.js' ending tells LiteRT.js it is the script itself
    } finally {
      URL.revokeObjectURL(url);
    }
    return name;
  })();
  return loading;
}

/** Whether this browser offers a WebGPU adapter (LiteRT.js's 'webgpu' accelerator needs one). */
export async function webgpuAdapter() {
  if (!navigator.gpu) return null;
  try {
    const adapter = await navigator.gpu.requestAdapter();
    if (!adapter) return null;
    const info = adapter.info || {};
    return [info.vendor, info.architecture, info.description].filter(Boolean).join(' ') || 'WebGPU adapter';
  } catch (e) {
    return null;
  }
}

/** A compiled .tflite on one accelerator ('wasm' or 'webgpu'). */
export class TFLiteModel {
  constructor(compiled, accelerator) {
    this.compiled = compiled;
    this.accelerator = accelerator;
    this.inputs = compiled.getInputDetails();
    this.outputs = compiled.getOutputDetails();
  }

  static async load(url, accelerator) {
    const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
    const compiled = await loadAndCompile(bytes, {accelerator});
    return new TFLiteModel(compiled, accelerator);
  }

  get fullyAccelerated() {
    return this.compiled.isFullyAccelerated;
  }

  /** Runs one float32 input; returns every output as a Float32Array, in the model's output order. */
  async run(data) {
    const input = new Tensor(data, Array.from(this.inputs[0].shape));
    let results;
    try {
      results = await this.compiled.run(input);
    } finally {
      input.delete();
    }
    const arrays = [];
    for (const tensor of results) {
      const host = tensor.accelerator === 'wasm' ? tensor : await tensor.moveTo('wasm');
      arrays.push(new Float32Array(host.toTypedArray()));
      host.delete();
      if (host !== tensor && !tensor.deleted) tensor.delete();
    }
    return arrays;
  }
}
