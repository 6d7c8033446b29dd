// The loopback hosts' homes on a disk like a jumphost's: an ext4 file system with a
// journal, in a sparse image loop-mounted for the bench. This machine's own root file
// system is ext4 without a journal, and there ext4 steers every new inode past those
// deleted in the last minute (fs/ext4/ialloc.c recently_deleted, only without a journal):
// with the hosts wiped before every run, creating a file costs about twice as much as on
// a jumphost's disk (measured: 50 × unpacking the bundle, 370 ms against 175 ms), and the
// method that writes more files (fleet: journal, step logs, state) pays more of it.
import {execFileSync} from 'node:child_process'
import {mkdirSync, rmSync} from 'node:fs'

export interface HostDisk {
  /** Where the hosts' homes go (startLocalHosts' homeRoot). */
  homeRoot: string
  unmount(): void
}

const ROOT = '/var/lib/fleet-bench'

/** Make and mount the disk for one bench's hosts (`name` keeps benches apart). */
export function mountHostDisk(name: string, sizeGb = 8): HostDisk {
  const image = `${ROOT}/${name}.img`
  const homeRoot = `${ROOT}/${name}-home`
  mkdirSync(homeRoot, {recursive: true})
  // A previous bench killed midway may have left it mounted.
  try {
    execFileSync('umount', [homeRoot], {stdio: 'ignore'})
  } catch {
    // not mounted
  }
  rmSync(image, {force: true})
  execFileSync('truncate', ['-s', `${sizeGb}G`, image])
  execFileSync('mkfs.ext4', ['-q', '-F', '-O', 'has_journal', image])
  execFileSync('mount', ['-o', 'loop', image, homeRoot])
  let mounted = true
  return {
    homeRoot,
    unmount() {
      if (!mounted) return
      mounted = false
      execFileSync('umount', [homeRoot])
      rmSync(image, {force: true})
    },
  }
}
