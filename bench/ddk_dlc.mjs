// Runs rust-dlc's signer (the @bennyblader/ddk-ts native binding) on a workload
// written by bench/dlc.py or the interop test: reads a JSON request file, writes
// a JSON response to stdout. Timings are wall-clock milliseconds per operation.
import { createRequire } from 'node:module'
import { readFileSync } from 'node:fs'

const require = createRequire(import.meta.url)
// The package's ESM entry point calls require(); load the native module directly.
const ddk = require('@bennyblader/ddk-ts/dist/ddk-ts.linux-x64-gnu.node')

const hex = (s) => Buffer.from(s, 'hex')
const req = JSON.parse(readFileSync(process.argv[2], 'utf8'))

const cets = req.cets.map((c) => ({
  version: c.version,
  lockTime: c.lockTime,
  inputs: c.inputs.map((i) => ({ ...i, scriptSig: hex(i.scriptSig), witness: [] })),
  outputs: c.outputs.map((o) => ({ value: BigInt(o.value), scriptPubkey: hex(o.scriptPubkey) })),
  rawBytes: hex(c.raw),
}))
const oracleInfo = [{ publicKey: hex(req.oracle.publicKey), nonces: req.oracle.nonces.map(hex) }]
const msgs = req.msgs.map((digits) => [digits.map(hex)])
const fundingScript = hex(req.fundingScript)
const fundValue = BigInt(req.fundValue)
const out = { times: {}, cpu: {} }

// Wall-clock and CPU milliseconds (CPU above wall would mean several threads).
function timed(name, fn) {
  const cpu = process.cpuUsage()
  const start = process.hrtime.bigint()
  const result = fn()
  out.times[name] = Number(process.hrtime.bigint() - start) / 1e6
  const used = process.cpuUsage(cpu)
  out.cpu[name] = (used.user + used.system) / 1000
  return result
}

const sigBlob = (s) => Buffer.concat([s.signature, s.proof]).toString('hex')
const asAdaptor = (h) => ({ signature: hex(h), proof: Buffer.alloc(0) })

for (const op of req.ops) {
  if (op === 'points') {
    out.points = timed('points', () => ddk.createCetAdaptorPointsFromOracleInfo(oracleInfo, msgs)).map(
      (p) => p.toString('hex'),
    )
  } else if (op === 'sign') {
    const points = (out.points ?? req.points).map(hex)
    const sigs = timed('sign', () =>
      ddk.createCetAdaptorSigsFromPoints(cets, points, hex(req.secretKey), fundingScript, fundValue),
    )
    out.sigs = sigs.map(sigBlob)
  } else if (op === 'verify') {
    const sigs = (req.sigs ?? out.sigs).map(asAdaptor)
    out.verify = timed('verify', () =>
      ddk.verifyCetAdaptorSigsFromOracleInfo(sigs, cets, oracleInfo, hex(req.pubkey), fundingScript, fundValue, msgs),
    )
  } else if (op === 'verify_each') {
    out.verify_each = req.sigs.map((s, i) =>
      ddk.verifyCetAdaptorSigFromOracleInfo(asAdaptor(s), cets[i], oracleInfo, hex(req.pubkey), fundingScript, fundValue, msgs[i]),
    )
  } else if (op === 'sighashes') {
    out.sighashes = cets.map((c) => ddk.getCetSighash(c, fundingScript, fundValue).toString('hex'))
  } else if (op === 'decrypt') {
    // The ECDSA signature hidden in each adaptor signature, given the oracle's signatures.
    out.decrypted = req.sigs.map((s, i) =>
      ddk.extractEcdsaSignatureFromOracleSignatures(req.oracleSigs[i].map(hex), hex(s)).toString('hex'),
    )
  } else {
    throw new Error(`unknown op ${op}`)
  }
}
const status = readFileSync('/proc/self/status', 'utf8')
out.peakRssKb = Number(/VmHWM:\s+(\d+)/.exec(status)[1])
process.stdout.write(JSON.stringify(out))
