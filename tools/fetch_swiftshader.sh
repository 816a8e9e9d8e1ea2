#!/usr/bin/env bash
# Fetches Google's SwiftShader (a CPU Vulkan driver that LiteRT's WebGPU accelerator accepts, unlike Mesa's
# lavapipe) from Debian's chromium-common package, without installing the package: the driver, its ICD file and a
# Vulkan loader go to ~/.cache/kerasfer/swiftshader, where kerasfer.export.gpu_runtime looks for them. The GPU
# runtime tests then run on any machine; where this fails (no apt, no network) they skip with the reason.
# Cost: a 32 MB download, 5.6 MB kept.
set -euo pipefail
dest="${XDG_CACHE_HOME:-$HOME/.cache}/kerasfer/swiftshader"
if [ -f "$dest/vk_swiftshader_icd.json" ] && [ -f "$dest/libvk_swiftshader.so" ]; then
  echo "SwiftShader already in $dest"
  exit 0
fi
command -v apt-get >/dev/null || { echo "no apt-get: SwiftShader not fetched (GPU runtime tests will skip)"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && (apt-get download chromium-common >/dev/null 2>&1 || { apt-get update -qq && apt-get download chromium-common; }) \
  && dpkg-deb -x chromium-common_*.deb x)
mkdir -p "$dest"
cp "$tmp"/x/usr/lib/chromium/libvk_swiftshader.so "$tmp"/x/usr/lib/chromium/vk_swiftshader_icd.json "$dest"/
cp "$tmp"/x/usr/lib/chromium/libvulkan.so.1 "$dest"/ 2>/dev/null || true
echo "SwiftShader fetched into $dest"
