-- Integer and string loop for bench/guest_bench.py (workload lua-int): Lua 5.4's 64-bit
-- integers on a 32-bit CPU, string formatting, byte access, table building, sorting and
-- pattern matching. usage: lua int.lua [N]
-- Prints one line, "lua-int N HASH PIECES LENGTH MIN MEDIAN MAX", that bench/guest_bench.py
-- compares with the value a Python model of this script computes (its lua_int_reference).
local N = tonumber(arg and arg[1]) or 200000

local x = 12345
local h = 2166136261            -- FNV-1a over the formatted strings
local parts = {}
for i = 1, N do
  x = (x * 1103515245 + 12345) & 0x7fffffff
  local s = string.format("%d:%x", i, x)
  for j = 1, #s do
    h = ((h ~ s:byte(j)) * 16777619) & 0xffffffff
  end
  if i % 97 == 0 then
    parts[#parts + 1] = s:sub(1, 5)
  end
end

local joined = table.concat(parts, ",")
local pieces = 0
for _ in joined:gmatch("[^,]+") do pieces = pieces + 1 end

local t = {}
for i = 1, N // 10 do
  x = (x * 1103515245 + 12345) & 0x7fffffff
  t[i] = x
end
table.sort(t)

print(string.format("lua-int %d %08x %d %d %d %d %d", N, h, pieces, #joined, t[1],
                    t[#t // 2 + 1], t[#t]))
