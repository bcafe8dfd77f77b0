// The desired state and its validator live in @slipstream/agent-protocol, shared with the control plane.
export * from '@slipstream/agent-protocol';
