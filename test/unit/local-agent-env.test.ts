/**
 * The agent fleet runs on the instructor's machine (the dry run, redaction) starts without
 * NODE_EXTRA_CA_CERTS: it opens no TLS connection, and with the variable set every Node.js
 * start reads that CA file first. A file that cannot be read makes Node say so on stderr,
 * which is how this test sees whether the child read it.
 */
import {spawnSync} from 'node:child_process'
import {resolve} from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'
import {runLocalAgent} from '../../src/remote-agent/local-agent.js'

const MISSING = '/nonexistent/fleet-test-ca.pem'
const saved = process.env.NODE_EXTRA_CA_CERTS

afterEach(() => {
  if (saved === undefined) delete process.env.NODE_EXTRA_CA_CERTS
  else process.env.NODE_EXTRA_CA_CERTS = saved
})

describe('the local agent child', () => {
  it('starts without reading NODE_EXTRA_CA_CERTS', () => {
    process.env.NODE_EXTRA_CA_CERTS = MISSING
    // The control: a Node.js started with this environment does read it.
    const plain = spawnSync(process.execPath, ['-e', '0'], {encoding: 'utf8', env: process.env})
    expect(plain.stderr).toContain(MISSING)

    const r = runLocalAgent('run', {playbook: resolve('playbooks/demo.yaml'), 'dry-run': true, json: true, 'state-dir': '/nonexistent-fleet-dry-run'})
    expect(r.status).toBe(0)
    expect(JSON.parse(r.stdout).playbook).toBe('demo')
    expect(r.stderr).not.toContain(MISSING)
  })
})
