/**
 * The Unix accounts of the test bed's hosts: made in one batch (newusers, else
 * useradd), reused from one run to the next, and deleted on request; only accounts
 * marked with the test bed's GECOS comment are ever reused, changed or deleted. Also
 * where the shadow tools and other system binaries are (root's PATH may lack sbin).
 */
import {execFile} from 'node:child_process'
import {existsSync, readFileSync} from 'node:fs'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {UserError} from '../../src/errors/user-error.js'
import {sleep} from './procs.js'

/** Absolute path of a system tool, looked up in the sbin/bin directories (root's PATH may lack sbin). */
export function systemTool(name: string): string | undefined {
  for (const dir of ['/usr/sbin', '/sbin', '/usr/bin', '/bin', '/usr/local/sbin', '/usr/local/bin']) {
    if (existsSync(`${dir}/${name}`)) return `${dir}/${name}`
  }
  return undefined
}

/** GECOS of the accounts we create: only such accounts are ever reused, wiped or deleted. */
export const GECOS = 'fleet local host'

export interface Account {
  name: string
  gecos: string
  uid: number
  gid: number
  home: string
  shell: string
}

export function readPasswd(): Map<string, Account> {
  const out = new Map<string, Account>()
  for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
    const f = line.split(':')
    if (f.length < 7) continue
    out.set(f[0], {name: f[0], gecos: f[4], uid: Number(f[2]), gid: Number(f[3]), home: f[5], shell: f[6]})
  }
  return out
}

function readShadowPasswords(): Map<string, string> {
  const out = new Map<string, string>()
  for (const line of readFileSync('/etc/shadow', 'utf8').split('\n')) {
    const f = line.split(':')
    if (f.length >= 2) out.set(f[0], f[1])
  }
  return out
}

// One account change at a time in this process: the shadow tools lock /etc/passwd
// and fail (rather than wait) when another holds the lock.
let chain: Promise<unknown> = Promise.resolve()
function serialized<T>(fn: () => Promise<T>): Promise<T> {
  const next = chain.then(fn, fn)
  chain = next.catch(() => undefined)
  return next
}

/** Run a shadow-utils tool, retrying while another process holds the passwd lock. */
async function shadowTool(name: string, args: string[], input?: string): Promise<{code: number; output: string}> {
  const file = systemTool(name)
  if (!file) throw Object.assign(new Error(`${name} not found`), {code: 'ENOENT'})
  for (let attempt = 0; ; attempt++) {
    const res = await new Promise<{code: number; output: string}>((resolve, reject) => {
      const child = execFile(file, args, {maxBuffer: 16 * 1024 * 1024}, (err, stdout, stderr) => {
        const e = err as (NodeJS.ErrnoException & {code?: number | string}) | null
        if (e && e.code === 'ENOENT') return reject(e)
        resolve({code: e ? (typeof e.code === 'number' ? e.code : 1) : 0, output: `${stdout}${stderr}`})
      })
      if (input !== undefined) child.stdin?.end(input)
    })
    if (res.code !== 0 && /lock|try again/i.test(res.output) && attempt < 30) {
      await sleep(100 + Math.random() * 200)
      continue
    }
    return res
  }
}

/**
 * Make sure every account exists with the given home, a bash shell and a password
 * field of `*` (no password, but not locked: sshd with UsePAM no refuses a locked
 * account even for key authentication). Existing accounts are reused; the missing
 * ones are created in one batch with newusers (useradd is ~40 ms per user), falling
 * back to useradd one by one.
 */
export function ensureAccounts(wanted: Array<{name: string; home: string}>): Promise<Map<string, Account>> {
  return serialized(async () => {
    let passwd = readPasswd()
    const foreign = wanted.find((w) => passwd.has(w.name) && passwd.get(w.name)!.gecos !== GECOS)
    if (foreign) {
      throw new UserError(`account ${foreign.name} already exists and was not made by fleet (its comment is not "${GECOS}"); choose another prefix for the local hosts`)
    }
    const missing = wanted.filter((w) => !passwd.has(w.name))

    if (missing.length > 1) {
      const dir = await mkdtemp(join(tmpdir(), 'fleet-newusers-'))
      try {
        const file = join(dir, 'users')
        // name:password:uid:gid:gecos:home:shell; empty uid/gid: allocate, with a group of
        // the same name. Empty password: newusers complains through PAM but creates the
        // account (locked); chpasswd below unlocks it. Its exit code is unreliable, so we
        // check /etc/passwd afterwards.
        await writeFile(file, missing.map((m) => `${m.name}::::${GECOS}:${m.home}:/bin/bash\n`).join(''), {mode: 0o600})
        try {
          await shadowTool('newusers', [file])
        } catch {
          // newusers missing: useradd below.
        }
      } finally {
        await rm(dir, {recursive: true, force: true})
      }
      passwd = readPasswd()
    }

    for (const m of wanted.filter((w) => !passwd.has(w.name))) {
      let res
      try {
        res = await shadowTool('useradd', ['--no-create-home', '--user-group', '--home-dir', m.home, '--shell', '/bin/bash', '--comment', GECOS, m.name])
      } catch {
        throw new UserError('useradd was not found; install the "passwd" package (apt-get install passwd).')
      }
      if (res.code !== 0 && !/already exists/.test(res.output)) {
        throw new Error(`useradd ${m.name} failed: ${res.output.trim()}`)
      }
    }
    passwd = readPasswd()

    for (const w of wanted) {
      const acc = passwd.get(w.name)
      if (!acc) throw new Error(`account ${w.name} could not be created`)
      if (acc.home !== w.home || acc.shell !== '/bin/bash') {
        const res = await shadowTool('usermod', ['--home', w.home, '--shell', '/bin/bash', w.name])
        if (res.code !== 0) throw new Error(`usermod ${w.name} failed: ${res.output.trim()}`)
      }
    }

    const shadow = readShadowPasswords()
    const toUnlock = wanted.filter((w) => shadow.get(w.name) !== '*')
    if (toUnlock.length > 0) {
      const res = await shadowTool('chpasswd', ['-e'], toUnlock.map((w) => `${w.name}:*\n`).join(''))
      if (res.code !== 0) throw new Error(`chpasswd -e failed: ${res.output.trim()}`)
    }

    passwd = readPasswd()
    const out = new Map<string, Account>()
    for (const w of wanted) out.set(w.name, passwd.get(w.name)!)
    return out
  })
}

/**
 * Delete the local-host accounts `${prefix}NNN` that fleet made (userdel, ~40-100 ms
 * each) and their homes. Returns the names deleted.
 */
export function deleteAccounts(prefix: string): Promise<string[]> {
  return serialized(async () => {
    const pattern = new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\d+$`)
    const deleted: string[] = []
    for (const acc of readPasswd().values()) {
      if (!pattern.test(acc.name) || acc.gecos !== GECOS) continue
      const res = await shadowTool('userdel', [acc.name])
      if (res.code !== 0) throw new Error(`userdel ${acc.name} failed: ${res.output.trim()}`)
      if (acc.home.startsWith('/') && acc.home !== '/') await rm(acc.home, {recursive: true, force: true})
      deleted.push(acc.name)
    }
    return deleted
  })
}
