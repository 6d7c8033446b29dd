import {existsSync, readFileSync, rmSync} from 'node:fs'
import {join} from 'node:path'
import {StringDecoder} from 'node:string_decoder'
import {afterAll, beforeEach, describe, expect, it} from 'vitest'
import {runShell, type ShellCommand} from '../../src/agent/exec.js'
import {launcherPid} from '../../src/agent/launcher/choose.js'
import {tempDir, waitUntil} from '../helpers/agent-cli.js'

// runShell for real, started each way: by the python launcher and by Node's spawn.

interface Ran {
  code: number | null
  signal: NodeJS.Signals | null
  timedOut: boolean
  sudoNeedsPassword: boolean
  out: string
  err: string
  outChunks: number
}

async function run(script: string, opts: Partial<ShellCommand> = {}): Promise<Ran> {
  let out = ''
  let err = ''
  let outChunks = 0
  const r = await runShell({
    script,
    timeoutMs: 30_000,
    ...opts,
    onStdout: (t) => {
      out += t
      outChunks++
    },
    onStderr: (t) => (err += t),
  })
  return {...r, out, err, outChunks}
}

/** Gone, or a zombie nobody has reaped yet: it runs no more. */
function gone(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch {
    return true
  }
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].startsWith('Z')
  } catch {
    return true
  }
}

function parentOf(pid: number): number {
  return Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[1])
}

const dirs: string[] = []
afterAll(() => {
  delete process.env.FLEET_AGENT_LAUNCHER
  for (const d of dirs) rmSync(d, {recursive: true, force: true})
})

describe.each(['python', 'node'] as const)('runShell through the %s launcher', (mode) => {
  beforeEach(() => {
    process.env.FLEET_AGENT_LAUNCHER = mode
  })

  it('is started by the launcher chosen: its parent is the launcher, or the agent itself', async () => {
    const r = await run('echo $PPID')
    const parent = Number(r.out)
    if (mode === 'python') {
      expect(launcherPid()).toBeDefined()
      expect(parent).toBe(launcherPid())
      expect(parent).not.toBe(process.pid)
      expect(readFileSync(`/proc/${parent}/cmdline`, 'utf8').split('\0').slice(1, 4)).toEqual(['-I', '-S', '-c'])
    } else expect(parent).toBe(process.pid)
  })

  it('runs in its own session and process group, stdin /dev/null, no standard signal ignored or blocked', async () => {
    const r = await run('ps -o pid=,pgid=,sid= -p $$; readlink /proc/$$/fd/0; grep -E "^Sig(Ign|Blk)" /proc/$$/status')
    const [ids, stdin, blk, ign] = r.out.trim().split('\n')
    const [pid, pgid, sid] = ids.trim().split(/\s+/)
    expect(pgid).toBe(pid)
    expect(sid).toBe(pid)
    expect(stdin).toBe('/dev/null')
    expect(blk).toBe('SigBlk:\t0000000000000000')
    // 32 and 33 are glibc's own (posix_spawn leaves them ignored; glibc sets them up when it needs them).
    expect(BigInt(`0x${ign.split('\t')[1]}`) & 0x7fffffffn).toBe(0n)
  })

  it('keeps output bytes exact: multibyte characters split across chunks, stdout and stderr apart', async () => {
    const r = await run(String.raw`printf '\xc3'; sleep 0.2; printf '\xa9\xe2\x82'; sleep 0.2; printf '\xac\n'; printf 'ß\n' >&2`)
    expect(r.outChunks).toBeGreaterThanOrEqual(3)
    expect(r.out).toBe('é€\n')
    expect(r.err).toBe('ß\n')
    expect(r.code).toBe(0)
  })

  it('loses nothing of several MB on both streams at once', async () => {
    const r = await run('seq 1 300000 >&2 & seq 1 1000000; wait')
    const seq = (n: number) => Array.from({length: n}, (_, i) => `${i + 1}\n`).join('')
    expect(r.out.length).toBe(seq(1_000_000).length)
    expect(r.out).toBe(seq(1_000_000))
    expect(r.err).toBe(seq(300_000))
  })

  it('decodes invalid UTF-8 as Node does', async () => {
    const bytes = Buffer.from([0x61, 0xff, 0xfe, 0xc3, 0x28, 0x62, 0xe2, 0x82])
    const printf = [...bytes].map((b) => `\\x${b.toString(16)}`).join('')
    const r = await run(`printf '${printf}'`)
    const d = new StringDecoder('utf8')
    expect(r.out).toBe(d.write(bytes) + d.end())
  })

  it('gives exit codes and signals', async () => {
    expect(await run('exit 42')).toMatchObject({code: 42, signal: null, timedOut: false})
    expect(await run('false; echo not reached')).toMatchObject({code: 1, out: ''})
    expect(await run('kill -KILL $$')).toMatchObject({code: null, signal: 'SIGKILL'})
    expect(await run('kill -USR1 $$')).toMatchObject({code: null, signal: 'SIGUSR1'})
    expect(await run('yes | head -c 3')).toMatchObject({code: 141, out: 'y\ny'})
  })

  it('on timeout kills the whole process group, grandchildren too, and says it timed out', async () => {
    const t0 = Date.now()
    const r = await run('bash -c "sleep 60 & echo \\$!; wait" & sleep 61 & echo $!; wait', {timeoutMs: 700})
    expect(Date.now() - t0).toBeLessThan(4000)
    expect(r).toMatchObject({timedOut: true, code: null, signal: 'SIGTERM'})
    const pids = r.out.trim().split('\n').map(Number)
    expect(pids).toHaveLength(2)
    await waitUntil('the sleeps are gone', () => pids.every(gone), 5000)
  })

  it('SIGKILLs after the grace when SIGTERM is ignored', {timeout: 15_000}, async () => {
    const t0 = Date.now()
    const r = await run("trap '' TERM; sleep 30", {timeoutMs: 300})
    expect(r).toMatchObject({timedOut: true, signal: 'SIGKILL'})
    expect(Date.now() - t0).toBeGreaterThanOrEqual(5000)
  })

  it('feeds stdin text, large and multibyte, and closes it', async () => {
    const text = 'héllo wörld ✓\n'.repeat(80_000)
    const r = await run('cat; echo end', {stdin: text})
    expect(r.out).toBe(text + 'end\n')
    expect((await run('wc -c', {stdin: ''})).out.trim()).toBe('0')
    // A command that never reads its stdin is not held up by it.
    expect(await run('exit 0', {stdin: 'x'.repeat(1_000_000)})).toMatchObject({code: 0})
  })

  it("passes the agent's environment with the step's env over it", async () => {
    process.env.FLEET_T_INHERITED = 'from the agent'
    const r = await run('printf "%s|%s|%s" "$FLEET_T_INHERITED" "$GREETING" "$FLEET_T_OVER"', {env: {GREETING: 'a b  "c" ✓', FLEET_T_OVER: 'step'}})
    delete process.env.FLEET_T_INHERITED
    expect(r.out).toBe('from the agent|a b  "c" ✓|step')
  })

  it('finds bash on the PATH of the command environment, and reports a missing program as Node does', async () => {
    await expect(run('true', {env: {PATH: '/nonexistent'}})).rejects.toThrow('spawn bash ENOENT')
    expect(await run('echo ok', {env: {PATH: '/usr/bin:/bin'}})).toMatchObject({code: 0, out: 'ok\n'})
  })

  it.runIf(process.getuid?.() === 0 && existsSync('/usr/bin/sudo'))('runs through sudo -n -- env K=V bash ... when asked', async () => {
    const r = await run(`printf '%s|%s|' "$GREETING" "$(id -u)"; tr '\\0' ' ' < /proc/$$/cmdline`, {sudo: true, env: {GREETING: 'hi there'}})
    expect(r.code).toBe(0)
    expect(r.out).toMatch(/^hi there\|0\|bash --noprofile --norc -eo pipefail -c printf/)
    const up = await run('p=$$; while [ "$p" -gt 1 ]; do p=$(cut -d" " -f4 /proc/$p/stat); echo $p; done', {sudo: true})
    expect(up.out.split('\n').map(Number)).toContain(mode === 'python' ? launcherPid() : process.pid)
  })

  it('ends the step when bash exits, even with a background job whose output is redirected', async () => {
    const dir = tempDir()
    dirs.push(dir)
    const marker = join(dir, 'x')
    const t0 = Date.now()
    const r = await run(`(sleep 1.5; touch ${marker}) >/dev/null 2>&1 &\necho started`)
    expect(r).toMatchObject({code: 0, out: 'started\n'})
    expect(Date.now() - t0).toBeLessThan(1400)
    expect(existsSync(marker)).toBe(false)
    // The job goes on by itself.
    await waitUntil('the background job finishes', () => existsSync(marker), 10_000)
  })

  it('waits for a background job that still holds the output, as Node does', async () => {
    const t0 = Date.now()
    const r = await run('(sleep 0.8; echo late) & echo early')
    expect(r.out).toBe('early\nlate\n')
    expect(Date.now() - t0).toBeGreaterThanOrEqual(700)
  })

  it('runs many commands at once, each with its own output', async () => {
    const all = await Promise.all(
      Array.from({length: 40}, (_, n) => run(`for i in $(seq 200); do echo "${n}:$i"; done; echo "${n} done" >&2; exit ${n % 7}`)),
    )
    for (const [n, r] of all.entries()) {
      expect(r.out).toBe(Array.from({length: 200}, (_, i) => `${n}:${i + 1}\n`).join(''))
      expect(r.err).toBe(`${n} done\n`)
      expect(r.code).toBe(n % 7)
    }
  })
})

describe('the python launcher', () => {
  beforeEach(() => {
    process.env.FLEET_AGENT_LAUNCHER = 'python'
  })

  it('dying under a command fails that command, stops its group, and the next command gets a new launcher', async () => {
    await run('true')
    const first = launcherPid()!
    let out = ''
    const running = runShell({script: 'echo $$; sleep 30', timeoutMs: 60_000, onStdout: (t) => (out += t)})
    await waitUntil('the command started', () => out.includes('\n'))
    const bash = Number(out)
    expect(parentOf(bash)).toBe(first)
    process.kill(first, 'SIGKILL')
    await expect(running).rejects.toThrow(`the step launcher (pid ${first}) was killed by SIGKILL while the command ran`)
    await waitUntil('its group is stopped', () => gone(bash), 5000)
    const next = await run('echo $PPID')
    expect(next.code).toBe(0)
    expect(Number(next.out)).toBe(launcherPid())
    expect(launcherPid()).not.toBe(first)
  })

  it('ignores the signals a terminal or a group kill sends the agent: the agent stops the steps itself', async () => {
    await run('true')
    const pid = launcherPid()!
    for (const sig of ['SIGINT', 'SIGHUP', 'SIGTERM'] as const) process.kill(pid, sig)
    expect((await run('echo $PPID')).out).toBe(`${pid}\n`)
  })
})
