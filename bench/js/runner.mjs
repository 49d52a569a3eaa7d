// The official JS SDK (@bitrix24/b24jssdk, B24Hook) as a bench contestant.
// Same loading approach as tests/fidelity/js/driver.mjs: the SDK comes from the
// npm prefix in B24_PEERS_JS through its package.json "exports"; nothing is patched.
//
// argv[2] = JSON spec:
//   {"task": "percall", "url", "n", "threads", "method", "params"}  n calls of
//       `method` (default server.time); `threads` promises in flight at once
//       (each awaits its calls in turn)
//   {"task": "export", "url", "mode": "callList"|"fetchList", "collect", "limits"}
// Prints one JSON line: percall {calls, ok, wall, cpu}; export {rows, wall, cpu,
// rss0_kb, rss_kb}. cpu = process.cpuUsage() user+system over the timed part;
// rss = VmHWM of /proc/self/status (kB). TLS trust: NODE_EXTRA_CA_CERTS.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { pathToFileURL } from 'node:url'

const writeOut = process.stdout.write.bind(process.stdout)
for (const level of ['log', 'info', 'debug', 'warn', 'trace']) {
  console[level] = (...args) => console.error(...args)
}

async function loadSdk () {
  const require = createRequire(path.join(path.resolve(process.env.B24_PEERS_JS), 'package.json'))
  const pkgPath = require.resolve('@bitrix24/b24jssdk/package.json')
  const pkg = JSON.parse(readFileSync(pkgPath, 'utf8'))
  const dot = pkg.exports?.['.']
  const entry = (typeof dot === 'string' ? dot : dot?.import?.default ?? dot?.default) ?? pkg.module ?? pkg.main
  return await import(pathToFileURL(path.join(path.dirname(pkgPath), entry)).href)
}

const UNLIMITED = {
  rateLimit: { burstLimit: 1e9, drainRate: 1e9, adaptiveEnabled: false },
  operatingLimit: { windowMs: 600_000, limitMs: 1e12, heavyPercent: 100 },
  adaptiveConfig: { enabled: false, thresholdPercent: 100, coefficient: 0, maxDelay: 0 }
}

const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6 }
// VmHWM (kB): getrusage's maxRSS carries the forking parent's peak across exec on Linux
const maxrss = () => {
  try {
    const m = /VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))
    if (m) return Number(m[1])
  } catch {}
  return process.resourceUsage().maxRSS
}

async function main () {
  const spec = JSON.parse(process.argv[2])
  const sdk = await loadSdk()
  const options = spec.limits ? undefined : { restrictionParams: UNLIMITED }
  const b24 = sdk.B24Hook.fromWebhookUrl(spec.url, options)
  b24.offClientSideWarning()
  // quiet logger: the SDK's default logger is a null logger; keep it.
  let out
  if (spec.task === 'percall') {
    const method = spec.method ?? 'server.time'
    const params = spec.params ?? {}
    const call = async () => {
      const r = await b24.actions.v2.call.make({ method, params })
      return r.isSuccess && r.getData().result != null
    }
    for (let i = 0; i < Math.min(20, spec.n); i++) await call()
    const threads = spec.threads ?? 1
    let ok = 0
    const worker = async (count) => { for (let i = 0; i < count; i++) if (await call()) ok++ }
    const c0 = cpu(); const t0 = performance.now()
    const ws = []
    for (let i = 0; i < threads; i++) ws.push(worker(Math.floor(spec.n / threads) + (i < spec.n % threads ? 1 : 0)))
    await Promise.all(ws)
    out = { calls: spec.n, ok, wall: (performance.now() - t0) / 1000, cpu: cpu() - c0 }
  } else {
    const rss0 = maxrss()
    const params = { entityTypeId: 3, select: spec.select ?? ['*'] }
    if (spec.max_id) params.filter = { '<=id': spec.max_id }
    const c0 = cpu(); const t0 = performance.now()
    let rows = 0
    if (spec.mode === 'fetchList') {
      for await (const chunk of b24.actions.v2.fetchList.make({ method: 'crm.item.list', params, idKey: 'id', customKeyForResult: 'items' })) {
        rows += chunk.length
      }
    } else {
      const res = await b24.actions.v2.callList.make({ method: 'crm.item.list', params, idKey: 'id', customKeyForResult: 'items' })
      if (!res.isSuccess) throw new Error('callList failed: ' + res.getErrorMessages().join('; '))
      const data = res.getData()
      rows = data.length
    }
    out = { rows, wall: (performance.now() - t0) / 1000, cpu: cpu() - c0, rss0_kb: rss0, rss_kb: maxrss() }
  }
  writeOut(JSON.stringify(out) + '\n')
}

main().then(() => process.exit(0), (err) => { console.error(err?.stack ?? String(err)); process.exit(2) })
