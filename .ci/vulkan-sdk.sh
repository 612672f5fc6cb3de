#!/usr/bin/env bash
# What the Vulkan plugin build and test need on Debian 12 (run as root by .ci/run):
#  - the system Vulkan loader, Debian's glslc, Mesa's software driver (lavapipe) to run on the CPU;
#  - Vulkan headers >= 1.3.272 (VK_EXT_layer_settings): bookworm's libvulkan-dev has 1.3.239, so the
#    headers alone are taken from trixie's libvulkan-dev (downloaded through apt with a separate
#    sources list, unpacked with dpkg-deb -x; nothing from trixie is installed).
# Prints the include directory to pass as LLAMA_CPP_VULKAN_INCLUDE_DIR.
set -euo pipefail
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/llama-cpp-vulkan-headers"
need=()
for pkg in libvulkan1 libvulkan-dev glslc mesa-vulkan-drivers; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ "${#need[@]}" -gt 0 ]; then
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >&2
fi
if grep -qs "VK_EXT_layer_settings" /usr/include/vulkan/vulkan_core.h; then
    echo ""  # the system's headers are new enough (e.g. Ubuntu 24.04): nothing to override
    exit 0
fi
if [ ! -f "$CACHE/usr/include/vulkan/vulkan_core.h" ]; then
    apt_dir="$(mktemp -d)"
    mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial"
    echo "deb http://deb.debian.org/debian trixie main" > "$apt_dir/sources.list"
    opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
          -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir" -o "Dir::Cache::Archives=$apt_dir/archives"
          -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
    apt-get "${opts[@]}" update -qq >&2
    (cd "$apt_dir" && apt-get "${opts[@]}" download libvulkan-dev >&2)
    rm -rf "$CACHE" && mkdir -p "$CACHE"
    dpkg-deb -x "$apt_dir"/libvulkan-dev_*.deb "$CACHE"
    rm -rf "$apt_dir"
fi
grep -q "VK_EXT_layer_settings" "$CACHE/usr/include/vulkan/vulkan_core.h"
echo "$CACHE/usr/include"
