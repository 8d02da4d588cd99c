"""Argo CD's Lua environment for the health and action scripts, on a real Lua 5.1 runtime (lupa).

Argo CD runs scripts from argocd-cm in gopher-lua (Lua 5.1) with only the base, package and table libraries
and a "safe" os library of `time` and `date` (argo-cd util/lua/lua.go, oslib_safe.go): no string, math, io
or debug library, and no string methods. This sandbox offers exactly that, so a script that leans on anything
more fails here as it would in Argo CD.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lupa import lua51

# The base library of gopher-lua, less what loads code or reaches outside (no script here needs those).
_BASE = [
    *("assert", "error", "ipairs", "next", "pairs", "pcall", "print", "rawequal", "rawget", "rawset"),
    *(
        "select",
        "setmetatable",
        "getmetatable",
        "tonumber",
        "tostring",
        "type",
        "unpack",
        "xpcall",
        "_VERSION",
    ),
]

_SANDBOX = """
local base_names, clock = ...
local env = {}
for _, name in ipairs(base_names) do env[name] = _G[name] end
env.table = {concat = table.concat, insert = table.insert, remove = table.remove, sort = table.sort,
             getn = table.getn, maxn = table.maxn}
local safe_os = {date = os.date, time = function(...) return clock(...) end}
env.os = safe_os
env.require = function(name)
  if name == "os" then return safe_os end
  error("module '" .. tostring(name) .. "' not found")
end
env._G = env
debug.setmetatable("", nil)  -- gopher-lua without its string library has no string methods either
return function(source, chunkname, obj)
  local fn, err = loadstring(source, "=" .. chunkname)
  if fn == nil then error(err, 0) end
  env.obj = obj
  setfenv(fn, env)
  return fn()
end
"""


class ArgoLua:
    """Runs Argo CD health, discovery and action scripts against Kubernetes objects (plain dicts)."""

    def __init__(self, now: int | None = None) -> None:
        self.now = now
        self._lua = lua51.LuaRuntime(
            unpack_returned_tuples=False, register_eval=False, register_builtins=False
        )
        base = self._lua.table_from(_BASE)
        self._run = self._lua.execute(_SANDBOX, base, self._clock)

    def _clock(self, *args: Any) -> int:
        if args:
            raise AssertionError("os.time(table) is not used by idlcm's scripts")
        if self.now is not None:
            return self.now
        import time

        return int(time.time())

    def run(self, script: Path, obj: Mapping[str, Any]) -> Any:
        """Run a script with the global `obj`; its return value as plain Python (tables as dicts/lists)."""
        table = self._lua.table_from(dict(obj), recursive=True)
        return to_python(self._run(script.read_text(), script.name, table), obj)


def to_python(value: Any, like: Any = None) -> Any:
    """A Lua value as JSON-like Python, resolving an empty table to the type of `like` (Argo CD does too)."""
    if lua51.lua_type(value) != "table":
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value
    keys = list(value.keys())
    if not keys:
        return {} if isinstance(like, Mapping) else []
    if all(isinstance(k, int) for k in keys) and sorted(keys) == list(range(1, len(keys) + 1)):
        likes = like if isinstance(like, list) else []
        return [
            to_python(value[i], likes[i - 1] if i <= len(likes) else None) for i in range(1, len(keys) + 1)
        ]
    likes_map = like if isinstance(like, Mapping) else {}
    return {str(k): to_python(value[k], likes_map.get(str(k))) for k in keys}
