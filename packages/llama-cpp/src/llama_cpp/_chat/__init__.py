"""Chat completion internals: formatters, handlers, templates and the registry.

The public face of this package is ``llama_cpp.llama_chat_format``; the
modules here are private and may change between releases.
"""
