/**
 * Starting a set of local hosts, in order: check the options and the machine, claim a
 * prefix and an address block, make (or reuse) the accounts while the client keys are
 * written, lay out every host's files and clean home, install the sudoers file, let
 * sshd check the generated configuration, then start every listener and wait until
 * all listen. Whatever fails on the way takes the started part down again.
 */
import {mkdir, mkdtemp} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {ensureAccounts, type Account} from '../machine/users.js'
import {DEFAULT_PORT, localHostAddress} from './addresses.js'
import {writeClientKeys, writeHostFiles} from './host-files.js'
import {LocalHostSetImpl} from './host-set.js'
import {checkNetns, checkOptions, preflight} from './preflight.js'
import {claimSlot} from './run-state.js'
import {checkSshdConfig, hasPerSourcePenalties, sshdConfig} from './sshd-config.js'
import {installSudoers, sudoersFileFor} from './sudoers.js'
import type {LocalHostSet, LocalHostsOptions} from './types.js'

const DEFAULT_PREFIX = 'fleet-h'
const DEFAULT_HOME_ROOT = '/var/lib/fleet-localhosts/home'

/** Start `count` local OpenSSH hosts. See testbed/index.ts for the layout. */
export async function startLocalHosts(opts: LocalHostsOptions): Promise<LocalHostSet> {
  const t0 = Date.now()
  // Under vitest each worker gets its own default prefix, so test files running at the
  // same time do not collide (one running set per prefix).
  const poolId = process.env.VITEST_POOL_ID
  const prefix = opts.prefix ?? (poolId && /^\d+$/.test(poolId) ? `fleet-v${poolId}-` : DEFAULT_PREFIX)
  const port = opts.port ?? DEFAULT_PORT
  const sshdPath = opts.sshdPath ?? '/usr/sbin/sshd'
  const useSudo = opts.sudo ?? true
  const {count} = opts
  const width = checkOptions(count, prefix, port)
  preflight(sshdPath, useSudo)
  const wrap = opts.netns ? checkNetns(opts.netns, count) : []

  const {stateDir, slot, release} = claimSlot(prefix)
  let baseDir: string
  let ownsBaseDir: boolean
  try {
    if (opts.baseDir) {
      baseDir = opts.baseDir
      ownsBaseDir = false
      await mkdir(baseDir, {recursive: true, mode: 0o755})
    } else {
      baseDir = await mkdtemp(join(tmpdir(), 'fleet-localhosts-'))
      ownsBaseDir = true
    }
  } catch (err) {
    release()
    throw err
  }
  const set = new LocalHostSetImpl(prefix, baseDir, ownsBaseDir, slot, stateDir, sshdPath, opts.sshdArgs ?? [], wrap)

  try {
    const homeRoot = opts.homeRoot ?? DEFAULT_HOME_ROOT
    await mkdir(homeRoot, {recursive: true, mode: 0o755})
    const specs = Array.from({length: count}, (_, k) => {
      const index = k + 1
      const digits = String(index).padStart(width, '0')
      return {index, name: `h${digits}`, user: `${prefix}${digits}`, home: join(homeRoot, `${prefix}${digits}`)}
    })

    // Accounts (batch) and the client key(s) while that runs.
    const tAcc = Date.now()
    const accountsP = ensureAccounts(specs.map((s) => ({name: s.user, home: s.home})))
    const clientKeys = await writeClientKeys(baseDir, prefix, opts.perHostKeys ? specs.map((s) => s.name) : undefined)
    set.identityFile = clientKeys[0].file
    const accounts: Map<string, Account> = await accountsP
    set.timings.accountsMs = Date.now() - tAcc

    // Per-host files, all in parallel.
    const tFiles = Date.now()
    const penalties = await hasPerSourcePenalties(sshdPath)
    for (const s of specs) {
      const acc = accounts.get(s.user)!
      const dir = join(baseDir, s.name)
      const address = opts.netns ? opts.netns.addresses[s.index - 1] : localHostAddress(slot, s.index)
      set.hosts.push({
        index: s.index,
        name: s.name,
        user: s.user,
        uid: acc.uid,
        gid: acc.gid,
        address,
        port,
        hostId: port === 22 ? address : `[${address}]:${port}`,
        home: s.home,
        identityFile: clientKeys[opts.perHostKeys ? s.index - 1 : 0].file,
        hostKeyPublic: '',
        hostKeyFile: join(dir, 'ssh_host_ed25519_key'),
        sshdPid: undefined,
        dir,
        configFile: join(dir, 'sshd_config'),
        logFile: join(dir, 'sshd.log'),
      })
    }
    const config = {maxSessions: opts.maxSessions ?? 64, logLevel: opts.logLevel ?? 'INFO', penalties}
    await Promise.all(set.hosts.map((h) => writeHostFiles(h, sshdConfig(h, config), clientKeys[opts.perHostKeys ? h.index - 1 : 0].publicKey)))
    if (useSudo) {
      const file = sudoersFileFor(prefix)
      set.setSudoersFile(file)
      await installSudoers(file, set.hosts.map((h) => h.user))
    }
    // sshd insists on its privilege separation directory.
    await mkdir('/run/sshd', {recursive: true, mode: 0o755})
    await checkSshdConfig(sshdPath, set.hosts[0].configFile)
    set.timings.filesMs = Date.now() - tFiles

    const tSshd = Date.now()
    await set.launch(set.hosts, opts.startTimeoutMs ?? 30_000)
    set.timings.sshdMs = Date.now() - tSshd
    set.timings.totalMs = Date.now() - t0
    return set
  } catch (err) {
    await set.stop({keepHomes: true}).catch(() => undefined)
    throw err
  }
}
