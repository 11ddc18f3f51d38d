--- Falcon clouds: short names in any spelling FalconPy accepts, their hosts, and autodiscovery.
local errors = require "falcon.base.errors"

local regions = {}

--- The public clouds (spec/API.md). A client's `regions` option overrides any of these URLs.
regions.clouds = {
  ["us-1"] = "https://api.crowdstrike.com",
  ["us-2"] = "https://api.us-2.crowdstrike.com",
  ["eu-1"] = "https://api.eu-1.crowdstrike.com",
  ["us-gov-1"] = "https://api.laggar.gcw.crowdstrike.com",
  ["us-gov-2"] = "https://api.us-gov-2.crowdstrike.mil",
}

local squeezed = { us1 = "us-1", us2 = "us-2", eu1 = "eu-1", usgov1 = "us-gov-1", usgov2 = "us-gov-2" }

--- "US1", "us-1", "usgov1", "us-gov-1" ... -> canonical "us-1"/"us-gov-1"; nil when not a cloud name.
function regions.canonical(name)
  if type(name) ~= "string" then return nil end
  return squeezed[(name:lower():gsub("[-_%s]", ""))]
end

local function is_gov(region) return region:find("gov", 1, true) ~= nil end

local function strip(url) return (url:gsub("/+$", "")) end

--- Canonical overrides table from a user's `regions` option ({us1 = "http://127.0.0.1:8080", ...}).
function regions.overrides(option)
  local map = {}
  for name, url in pairs(option or {}) do
    local canon = regions.canonical(name)
    if not canon then
      errors.bad_option(nil, "regions", ("unknown region '%s': us1, us2, eu1, usgov1 or usgov2 expected")
        :format(tostring(name)))
    end
    if type(url) ~= "string" or not url:match("^https?://[^%s]+$") then
      errors.bad_option(nil, "regions", canon .. ": http:// or https:// URL expected")
    end
    map[canon] = strip(url)
  end
  return map
end

local function url_of(region, overrides) return overrides[region] or regions.clouds[region] end

--- Resolves `base_url` to a URL and, when it names a known cloud, that cloud's region.
---@return string url, string|nil region nil for a custom URL (never switched by autodiscovery)
function regions.resolve(base_url, overrides)
  overrides = overrides or {}
  if base_url == nil then return url_of("us-1", overrides), "us-1" end
  local canon = regions.canonical(base_url)
  if canon then return url_of(canon, overrides), canon end
  local url = base_url
  if not url:match("^https?://") then
    -- FalconPy accepts a bare host such as "api.us-2.crowdstrike.com".
    if url:match("^[%w%.%-]+%.[%a]+/?$") then url = "https://" .. url
    else
      errors.bad_option(nil, "base_url", ("unknown region '%s': us1, us2, eu1, usgov1, usgov2 or an http(s) URL "
        .. "expected"):format(base_url))
    end
  end
  if url:find("[%s%c]") then errors.bad_option(nil, "base_url", "spaces and control characters are not allowed") end
  url = strip(url)
  for region in pairs(regions.clouds) do
    if url_of(region, overrides) == url then return url, region end
  end
  return url, nil
end

--- Where a token response's X-Cs-Region says the client belongs, when it should move there.
---@return string|nil url, string|nil region
function regions.discover(current, reported, overrides)
  if current == nil then return nil end -- a custom URL is never switched away from
  -- The server's word: only a plain cloud name ("us-2", "US2"), never one canonical() would tidy up.
  if type(reported) ~= "string" or not reported:match("^%w+%-?%w*%-?%w*$") then return nil end
  local target = regions.canonical(reported)
  if target == nil or target == current or is_gov(target) or is_gov(current) then return nil end
  return url_of(target, overrides or {}), target
end

return regions
