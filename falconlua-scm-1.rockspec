rockspec_format = "3.0"
package = "falconlua"
version = "scm-1"
source = {
  url = "git+file:///dev/null", -- built in place with `luarocks make`
}
description = {
  summary = "Lua SDK for the CrowdStrike Falcon API, with a libcurl C core",
  detailed = [[
Service classes and the Uber class for every Falcon API operation, OAuth2 token handling kept in C,
streamed uploads and downloads, Result objects, and pagination iterators.]],
  license = "Unlicense",
}
dependencies = {
  "lua >= 5.1",
  "lua-cjson",
}
external_dependencies = {
  CURL = { header = "curl/curl.h", library = "curl" },
}
build = {
  type = "builtin",
  modules = {
    ["falcon.core"] = {
      sources = {
        "csrc/auth.c", "csrc/buffer.c", "csrc/client.c", "csrc/clock.c", "csrc/compat.c", "csrc/core.c", "csrc/errors.c",
        "csrc/headers.c", "csrc/mime.c", "csrc/multi.c", "csrc/query.c", "csrc/request.c", "csrc/secret.c", "csrc/token.c", "csrc/transfer.c",
      },
      libraries = { "curl" },
      incdirs = { "$(CURL_INCDIR)" },
      libdirs = { "$(CURL_LIBDIR)" },
    },
  },
  copy_directories = { "examples" },
  install = { lua = {} },
}
