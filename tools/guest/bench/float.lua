-- Floating-point loop for bench/guest_bench.py (workload lua-float): doubles on the x87 of a
-- CPU without SSE (Debian's i386 build). Only + - * / and sqrt, which IEEE 754 defines
-- exactly, so every correct CPU prints the same digits. usage: lua float.lua [N]
-- A Mandelbrot set on an N x N grid (points that stay bounded for 64 iterations), then a
-- little n-body integration (4 bodies, N*8 steps). Prints
-- "lua-float N INSIDE ENERGY" for bench/guest_bench.py to compare (its lua_float_reference).
local N = tonumber(arg and arg[1]) or 256

local inside = 0
for py = 0, N - 1 do
  local ci = -1.25 + 2.5 * py / N
  for px = 0, N - 1 do
    local cr = -2.0 + 2.5 * px / N
    local zr, zi, k = 0.0, 0.0, 0
    while k < 64 do
      local zr2, zi2 = zr * zr, zi * zi
      if zr2 + zi2 > 4.0 then break end
      zi = 2.0 * zr * zi + ci
      zr = zr2 - zi2 + cr
      k = k + 1
    end
    if k == 64 then inside = inside + 1 end
  end
end

local bodies = {
  {x = 0.0, y = 0.0, z = 0.0, vx = 0.0, vy = 0.0, vz = 0.0, m = 39.47},
  {x = 4.84, y = -1.16, z = -0.10, vx = 0.606, vy = 2.81, vz = -0.02, m = 0.037},
  {x = 8.34, y = 4.12, z = -0.40, vx = -1.01, vy = 1.82, vz = 0.008, m = 0.011},
  {x = 12.89, y = -15.11, z = -0.22, vx = 1.08, vy = 0.868, vz = -0.01, m = 0.0017},
}
local nb = #bodies
local dt = 0.01
for _ = 1, N * 8 do
  for i = 1, nb do
    local a = bodies[i]
    for j = i + 1, nb do
      local b = bodies[j]
      local dx, dy, dz = a.x - b.x, a.y - b.y, a.z - b.z
      local d2 = dx * dx + dy * dy + dz * dz
      local mag = dt / (d2 * math.sqrt(d2))
      local bm, am = b.m * mag, a.m * mag
      a.vx, a.vy, a.vz = a.vx - dx * bm, a.vy - dy * bm, a.vz - dz * bm
      b.vx, b.vy, b.vz = b.vx + dx * am, b.vy + dy * am, b.vz + dz * am
    end
  end
  for i = 1, nb do
    local a = bodies[i]
    a.x, a.y, a.z = a.x + dt * a.vx, a.y + dt * a.vy, a.z + dt * a.vz
  end
end
local e = 0.0
for i = 1, nb do
  local a = bodies[i]
  e = e + 0.5 * a.m * (a.vx * a.vx + a.vy * a.vy + a.vz * a.vz)
  for j = i + 1, nb do
    local b = bodies[j]
    local dx, dy, dz = a.x - b.x, a.y - b.y, a.z - b.z
    e = e - a.m * b.m / math.sqrt(dx * dx + dy * dy + dz * dz)
  end
end

print(string.format("lua-float %d %d %.12e", N, inside, e))
