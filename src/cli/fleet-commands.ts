import CacheStatus from '../../commands/fleet/cache/status.js'
import CacheWarm from '../../commands/fleet/cache/warm.js'
import Cleanup from '../../commands/fleet/cleanup.js'
import CollectLogs from '../../commands/fleet/collect-logs.js'
import Dashboard from '../../commands/fleet/dashboard.js'
import Demo from '../../commands/fleet/demo.js'
import Prepare from '../../commands/fleet/prepare.js'
import Status from '../../commands/fleet/status.js'

/** fleet's commands, listed explicitly (oclif's "explicit" discovery). */
export const COMMANDS = {
  prepare: Prepare,
  status: Status,
  cleanup: Cleanup,
  'collect-logs': CollectLogs,
  dashboard: Dashboard,
  demo: Demo,
  'cache:status': CacheStatus,
  'cache:warm': CacheWarm,
}
