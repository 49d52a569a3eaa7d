// Fidelity driver: runs REST calls through the official JS SDK
// (@bitrix24/b24jssdk, B24Hook) and prints one JSON line per operation.
//
// Input (stdin, JSON):
//   {"url": "<webhook url>",                 // default for every op
//    "restrictionParams": {...},              // default for every op (optional)
//    "ops": [{"api": "v2"|"v3", "method": "...", "params": {...},
//             "url"?: "...", "restrictionParams"?: {...},
//             "paging"?: true}, ...]}          // also report getTotal()/isMore()
// Output (stdout): one line per op, in order:
//   {"ok": isSuccess, "data": getData(), "errors": getErrorMessages(),
//    "codes": [error codes], "status": getStatus()[, "total", "more"]}
//   or, when the call throws,
//   {"thrown": true, "code": err.code, "status": err.status, "message": err.message, "name": ...}
//
// Environment: B24_PEERS_JS = the folder whose node_modules holds the SDK
// (the test's npm cache). TLS trust comes from NODE_EXTRA_CA_CERTS.
// The SDK is imported through its own package.json "exports" (ESM entry);
// nothing of the SDK is patched.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { pathToFileURL } from 'node:url'

// Keep stdout for our JSON lines only: anything the SDK (or its logger)
// prints goes to stderr.
const writeOut = process.stdout.write.bind(process.stdout)
for (const level of ['log', 'info', 'debug', 'warn', 'trace']) {
  console[level] = (...args) => console.error(...args)
}

async function loadSdk () {
  const peers = process.env.B24_PEERS_JS
  if (!peers) throw new Error('B24_PEERS_JS is not set')
  const require = createRequire(path.join(path.resolve(peers), 'package.json'))
  const pkgPath = require.resolve('@bitrix24/b24jssdk/package.json')
  const pkg = JSON.parse(readFileSync(pkgPath, 'utf8'))
  const dot = pkg.exports?.['.']
  const entry = (typeof dot === 'string' ? dot : dot?.import?.default ?? dot?.default) ??
    pkg.module ?? pkg.main
  const sdk = await import(pathToFileURL(path.join(path.dirname(pkgPath), entry)).href)
  return { sdk, version: pkg.version }
}

function plain (value) {
  // JSON round trip: drops undefined, turns class instances into plain data.
  return value === undefined ? null : JSON.parse(JSON.stringify(value))
}

async function main () {
  const input = JSON.parse(readFileSync(0, 'utf8'))
  const { sdk, version } = await loadSdk()
  if (input.expectVersion && input.expectVersion !== version) {
    throw new Error(`expected @bitrix24/b24jssdk ${input.expectVersion}, found ${version}`)
  }
  const hooks = new Map()
  const hookFor = (url, restrictionParams) => {
    const key = JSON.stringify([url, restrictionParams ?? null])
    if (!hooks.has(key)) {
      const options = restrictionParams ? { restrictionParams } : undefined
      const b24 = sdk.B24Hook.fromWebhookUrl(url, options)
      b24.offClientSideWarning()
      hooks.set(key, b24)
    }
    return hooks.get(key)
  }

  for (const op of input.ops ?? []) {
    let line
    try {
      const b24 = hookFor(op.url ?? input.url, op.restrictionParams ?? input.restrictionParams)
      const api = op.api ?? 'v2'
      if (op.kind === 'callList' || op.kind === 'fetchList' || op.kind === 'batch') {
        // list and batch actions: {ok, data, errors} (fetchList: the concatenated pages)
        let res
        if (op.kind === 'batch') {
          res = await b24.actions[api].batch.make({ calls: op.calls, options: op.options ?? {} })
        } else if (op.kind === 'fetchList') {
          const rows = []
          for await (const page of b24.actions[api].fetchList.make({ method: op.method, params: op.params ?? {}, idKey: op.idKey, customKeyForResult: op.customKeyForResult })) {
            rows.push(...page)
          }
          writeOut(JSON.stringify({ ok: true, data: plain(rows), errors: [] }) + '\n')
          continue
        } else {
          res = await b24.actions[api].callList.make({ method: op.method, params: op.params ?? {}, idKey: op.idKey, customKeyForResult: op.customKeyForResult })
        }
        writeOut(JSON.stringify({ ok: res.isSuccess, data: plain(res.getData()), errors: res.getErrorMessages() }) + '\n')
        continue
      }
      const res = await b24.actions[api].call.make({ method: op.method, params: op.params ?? {} })
      line = {
        ok: res.isSuccess,
        data: plain(res.getData()),
        errors: res.getErrorMessages(),
        codes: [...res.getErrors()].map((e) => e?.code ?? null),
        status: res.getStatus()
      }
      if (op.paging) {
        // deprecated v2 envelope accessors (next/total are not part of getData())
        line.total = res.getTotal()
        line.more = res.isMore()
      }
    } catch (err) {
      line = {
        thrown: true,
        name: err?.name ?? null,
        code: err?.code ?? null,
        status: err?.status ?? null,
        message: err?.message ?? String(err)
      }
    }
    writeOut(JSON.stringify(line) + '\n')
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err?.stack ?? String(err))
    process.exit(2)
  }
)
