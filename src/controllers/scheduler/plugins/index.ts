// The default profile: upstream's default filter order and score weights, for the plugins k8ts has.
import type { Plugin } from '../framework.js';
import { interPodAffinity } from './interpodaffinity.js';
import { nodeAffinity } from './nodeaffinity.js';
import { nodeName } from './nodename.js';
import { nodePorts } from './nodeports.js';
import { balancedAllocation, nodeResourcesFit } from './noderesources.js';
import { taintToleration } from './tainttoleration.js';
import { podTopologySpread } from './topologyspread.js';
import { nodeUnschedulable } from './unschedulable.js';

export const DEFAULT_PLUGINS: Plugin[] = [
  nodeUnschedulable,
  nodeName,
  taintToleration,
  nodeAffinity,
  nodePorts,
  nodeResourcesFit,
  podTopologySpread,
  interPodAffinity,
  balancedAllocation,
];
