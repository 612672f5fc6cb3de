#!/usr/bin/env bash
# Inside the manylinux_2_28 container (cibuildwheel before-all) for llama-cpp-core-vulkan:
# the LunarG Vulkan SDK (headers >= 1.3.272, glslc, the loader) into /opt/vulkan-sdk, and
# Mesa's lavapipe so the wheel's test can run the backend on the CPU.
set -euo pipefail
arch="$(uname -m)"
dnf install -y xz mesa-vulkan-drivers vulkan-loader
if [ "$arch" = "x86_64" ]; then
    curl -fsSL -o /tmp/vulkan-sdk.tar.xz "https://sdk.lunarg.com/sdk/download/latest/linux/vulkan_sdk.tar.xz"
    mkdir -p /tmp/vulkan-sdk && tar -xJf /tmp/vulkan-sdk.tar.xz -C /tmp/vulkan-sdk
    mv /tmp/vulkan-sdk/*/x86_64 /opt/vulkan-sdk
else
    # no prebuilt aarch64 SDK: headers and glslc from the distribution's newer packages
    dnf install -y vulkan-headers vulkan-loader-devel glslang
    dnf install -y epel-release && dnf install -y shaderc || true
    mkdir -p /opt/vulkan-sdk/bin
fi
