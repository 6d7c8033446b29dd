import {execFileSync} from 'node:child_process'
import {describe, expect, it} from 'vitest'
import {redact, StreamRedactor} from '../../src/agent/redact.js'
import {findQuotedInterpolation, renderShell} from '../../src/playbook/render.js'
import {shq} from '../../src/shell/quote.js'
import {foldRun, parseRecord, ProtocolError, splitRecords, doneSteps, type JournalRecord} from '../../src/protocol/index.js'
import {parseOsRelease} from '../../src/agent/facts.js'

describe('shell quoting', () => {
  const nasty = ['plain', 'two words', "it's", '$(touch /tmp/pwned)', '`id`', 'a"b', 'back\\slash', '*', '', '-n', 'new\nline', "'; rm -rf / #"]
  it.each(nasty)('%j reaches bash as one unchanged word', (value) => {
    const out = execFileSync('bash', ['-c', `printf %s ${shq(value)}`], {encoding: 'utf8'})
    expect(out).toBe(value)
  })
  it('templated shell fields quote every value', () => {
    const cmd = renderShell('printf "%s|" {{ a }} {{ b }}', {a: 'x y', b: '$(id)'})
    expect(execFileSync('bash', ['-c', cmd], {encoding: 'utf8'})).toBe('x y|$(id)|')
  })
  it('finds {{ }} inside shell quotes, not outside or in comments', () => {
    expect(findQuotedInterpolation('ls "{{ d }}"')).toBeDefined()
    expect(findQuotedInterpolation("echo 'a {{ d }} b'")).toBeDefined()
    expect(findQuotedInterpolation('echo "n=" {{ d }} "x"')).toBeUndefined()
    expect(findQuotedInterpolation('echo \\"{{ d }}')).toBeUndefined()
    expect(findQuotedInterpolation("# don't\nls {{ d }}")).toBeUndefined()
  })
})

describe('redaction', () => {
  it('replaces every occurrence, longest secret first', () => {
    expect(redact('a hunter2 b hunter2', ['hunter2'])).toBe('a ******** b ********')
    expect(redact('xx-secret-long', ['secret', 'secret-long'])).toBe('xx-********')
  })
  it('catches a secret cut across stream chunks', () => {
    const r = new StreamRedactor(['topsecret'])
    const pieces = ['the value is top', 'sec', 'ret and again tops', 'ecret\nend']
    const out = pieces.map((p) => r.push(p)).join('') + r.end()
    expect(out).toBe('the value is ******** and again ********\nend')
    expect(out).not.toContain('topsecret')
  })
  it('emits complete lines at once when no secret spans lines', () => {
    const r = new StreamRedactor(['abcdefgh'])
    expect(r.push('line one\nline t')).toBe('line one\n')
  })
})

describe('protocol', () => {
  const base = {v: 1, ts: '2026-01-01T00:00:00Z', run: 'r1'}
  const facts = {hostname: 'h', user: 'u', home: '/h', is_root: false, os: {id: 'debian', id_like: [], version_id: '12', version_major: 12, pretty_name: 'Debian', family: 'debian'}, kernel: 'k', arch: 'x64', cpus: 2, mem_mb: 1, has_systemd: false, virt: {kvm_device: false, cpu_flag: false, nested: false}, boot_id: 'b'}
  const recs = [
    {...base, seq: 1, type: 'run-start', mode: 'run', playbook: {name: 'p', hash: 'h', path: '/p'}, selection: {}, plan: [{id: 'a', title: 'A'}, {id: 'b', title: 'B'}], facts, agent_version: '1', pid: 1},
    {...base, seq: 2, type: 'step-start', step: 'a', index: 1, total: 2, title: 'A', action: 'run'},
    {...base, seq: 3, type: 'step-end', step: 'a', status: 'ok', exit_code: 0, duration_ms: 5, attempts: 1},
    {...base, seq: 4, type: 'step-start', step: 'b', index: 2, total: 2, title: 'B', action: 'run'},
  ]
  const text = recs.map((r) => JSON.stringify(r)).join('\n') + '\n{"v":1,"seq":5,"ty'
  it('splits NDJSON and keeps a torn last line aside', () => {
    const {records, rest} = splitRecords(text)
    expect(records.map((r) => r.seq)).toEqual([1, 2, 3, 4])
    expect(rest).toBe('{"v":1,"seq":5,"ty')
  })
  it('folds records into a run summary', () => {
    const s = foldRun(splitRecords(text).records)!
    expect(s.state).toBe('running')
    expect(s.current?.id).toBe('b')
    expect(s.steps.map((x) => x.status)).toEqual(['ok', 'running'])
    expect(s.last_seq).toBe(4)
    expect([...doneSteps(splitRecords(text).records as JournalRecord[])]).toEqual(['a'])
  })
  it('refuses records from a newer protocol and malformed ones with a reason', () => {
    expect(() => parseRecord(JSON.stringify({...recs[1], v: 2}))).toThrow(/protocol version 2, newer than this side's 1/)
    expect(() => parseRecord(JSON.stringify({...recs[1], seq: -1}))).toThrow(ProtocolError)
    expect(() => parseRecord('nope')).toThrow(/not a JSON record/)
  })
})

describe('facts', () => {
  it('parses os-release with and without quotes', () => {
    expect(parseOsRelease('ID=ubuntu\nVERSION_ID="24.04"\nPRETTY_NAME=\'Ubuntu 24.04 LTS\'\n')).toEqual({ID: 'ubuntu', VERSION_ID: '24.04', PRETTY_NAME: 'Ubuntu 24.04 LTS'})
  })
})

describe('HumanOutput (agent run without --json)', () => {
  it('prints a line split across output records once, whole, and a last line without newline before the step end', async () => {
    const {HumanOutput} = await import('../../src/agent/human-output.js')
    const h = new HumanOutput()
    const base = {v: 1, ts: '2026-12-01T00:00:00.000Z', run: 'r'} as const
    const out = (seq: number, stream: 'stdout' | 'stderr', data: string) => h.text({...base, seq, type: 'output', step: 's', stream, data} as never)
    let text = out(1, 'stdout', 'compute00: depl')
    text += out(2, 'stderr', 'warn')
    text += out(3, 'stdout', 'oy started\ncontroller00: deploy started\nno newline at the end')
    text += h.text({...base, seq: 4, type: 'step-end', step: 's', status: 'ok', exit_code: 0, duration_ms: 1200, attempts: 1} as never)
    // Unfinished lines come out per stream (stdout, then stderr) when the step ends.
    expect(text).toBe('    | compute00: deploy started\n    | controller00: deploy started\n    | no newline at the end\n    | warn\n    ok in 1.2s\n')
  })
})
