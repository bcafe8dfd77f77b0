// Strict IPv4/CIDR parsing lives in @slipstream/agent-protocol (the desired-state validator needs it).
export {
  cidrContains,
  ipv4ToString,
  parseCidr,
  parseIpv4,
  prefixMask,
  type Cidr,
} from '@slipstream/agent-protocol';
