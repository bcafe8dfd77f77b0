'use client';

import { useActionState, useState } from 'react';
import { createVip, deleteVip, updateVip } from '../../lib/actions';
import { IDLE, type FormState } from '../../lib/forms';
import { Field, FormResult, SelectField, SubmitButton } from '../ui';

export interface VipValues {
  id?: string;
  name: string;
  address: string;
  protocol: 'tcp' | 'udp';
  port: number | string;
  poolId: string;
  distribution: 'five-tuple' | 'source-ip';
  idleTimeoutS: number;
  bypass: {
    enabled: boolean;
    sourceCidrs: string[];
    maxFlowsPerHost: number;
    idleTimeoutS: number;
    handshakeHoldMs: number;
  };
}

const PROTOCOLS = [
  { value: 'tcp', label: 'TCP' },
  { value: 'udp', label: 'UDP' },
];
const DISTRIBUTIONS = [
  { value: 'five-tuple', label: '5-tuple hash' },
  { value: 'source-ip', label: 'Source IP (sticky)' },
];

const reloadHint = (
  <button type="button" className="btn small secondary" onClick={() => window.location.reload()}>
    Reload
  </button>
);

function SettingsFields({
  state,
  v,
  pools,
}: {
  state: FormState;
  v: VipValues;
  pools: { id: string; name: string }[];
}) {
  return (
    <>
      <Field name="name" label="Name" state={state} defaultValue={v.name} required />
      <Field
        name="address"
        label="Address (IPv4)"
        state={state}
        defaultValue={v.address}
        placeholder="10.0.0.10"
      />
      <SelectField
        name="protocol"
        label="Protocol"
        state={state}
        options={PROTOCOLS}
        defaultValue={v.protocol}
      />
      <Field name="port" label="Port" state={state} defaultValue={v.port} inputMode="numeric" />
      <SelectField
        name="poolId"
        label="Pool"
        state={state}
        options={pools.map((p) => ({ value: p.id, label: p.name }))}
        defaultValue={v.poolId}
      />
      <SelectField
        name="distribution"
        label="Distribution"
        state={state}
        options={DISTRIBUTIONS}
        defaultValue={v.distribution}
      />
      <Field
        name="idleTimeoutS"
        label="Idle timeout (s)"
        state={state}
        defaultValue={v.idleTimeoutS}
        inputMode="numeric"
      />
    </>
  );
}

function BypassFields({ state, v }: { state: FormState; v: VipValues['bypass'] }) {
  return (
    <>
      <div className="field full">
        <label className="check">
          <input
            type="checkbox"
            name="bypass.enabled"
            defaultChecked={state.values ? state.values['bypass.enabled'] === 'on' : v.enabled}
          />{' '}
          Enable load balancer bypass
        </label>
        <span className="hint">
          After the first packets through a mux, the backend&apos;s host redirects the flow straight to
          itself.
        </span>
      </div>
      <Field
        name="bypass.sourceCidrs"
        label="Allowed client sources (CIDRs)"
        state={state}
        className="full"
        hint="One per line or comma-separated. Empty: any source may be bypassed."
      >
        <textarea
          id="f-bypass.sourceCidrs"
          name="bypass.sourceCidrs"
          defaultValue={state.values?.['bypass.sourceCidrs'] ?? v.sourceCidrs.join('\n')}
          aria-invalid={state.fields?.['bypass.sourceCidrs'] ? true : undefined}
          placeholder="10.0.0.0/16"
        />
      </Field>
      <Field
        name="bypass.maxFlowsPerHost"
        label="Max bypassed flows per host"
        state={state}
        defaultValue={v.maxFlowsPerHost}
        inputMode="numeric"
      />
      <Field
        name="bypass.idleTimeoutS"
        label="Bypass idle timeout (s)"
        state={state}
        defaultValue={v.idleTimeoutS}
        inputMode="numeric"
      />
      <Field
        name="bypass.handshakeHoldMs"
        label="Handshake hold (ms, TCP)"
        state={state}
        defaultValue={v.handshakeHoldMs}
        inputMode="numeric"
        hint="0-50. Backends hold a new connection's SYN-ACK until the client is bypassed: the mux carries only the SYN, connection setup takes up to this much longer. 0: off."
      />
    </>
  );
}

export function CreateVipForm({ pools, idem }: { pools: { id: string; name: string }[]; idem: string }) {
  const [state, action] = useActionState(createVip, { ...IDLE, idem });
  const v: VipValues = {
    name: '',
    address: '',
    protocol: 'tcp',
    port: '',
    poolId: pools[0]?.id ?? '',
    distribution: 'five-tuple',
    idleTimeoutS: 300,
    bypass: { enabled: true, sourceCidrs: [], maxFlowsPerHost: 65536, idleTimeoutS: 120, handshakeHoldMs: 0 },
  };
  return (
    <form key={state.at ?? 'initial'} action={action} className="form" aria-label="Create VIP">
      <FormResult state={state} />
      <input type="hidden" name="idem" value={state.idem ?? idem} />
      <SettingsFields state={state} v={v} pools={pools} />
      <h3 className="full" style={{ marginTop: 8 }}>
        Bypass policy
      </h3>
      <BypassFields state={state} v={v.bypass} />
      <div className="actions full">
        <SubmitButton>Create VIP</SubmitButton>
      </div>
    </form>
  );
}

export function EditVipForm({
  vip,
  etag,
  pools,
}: {
  vip: VipValues;
  etag: string;
  pools: { id: string; name: string }[];
}) {
  const [state, action] = useActionState(updateVip, IDLE);
  return (
    <form key={state.at ?? 'initial'} action={action} className="form" aria-label="Edit VIP">
      <FormResult state={state} conflictHint={reloadHint} />
      <input type="hidden" name="id" value={vip.id} />
      <input type="hidden" name="etag" value={etag} />
      <input type="hidden" name="part" value="settings" />
      <SettingsFields state={state} v={vip} pools={pools} />
      <div className="actions full">
        <SubmitButton>Save VIP</SubmitButton>
      </div>
    </form>
  );
}

export function BypassPolicyForm({ vip, etag }: { vip: VipValues; etag: string }) {
  const [state, action] = useActionState(updateVip, IDLE);
  return (
    <form key={state.at ?? 'initial'} action={action} className="form" aria-label="Bypass policy">
      <FormResult state={state} conflictHint={reloadHint} />
      <input type="hidden" name="id" value={vip.id} />
      <input type="hidden" name="etag" value={etag} />
      <input type="hidden" name="part" value="bypass" />
      <BypassFields state={state} v={vip.bypass} />
      <div className="actions full">
        <SubmitButton>Save bypass policy</SubmitButton>
      </div>
    </form>
  );
}

/** A delete button that asks once more before sending. */
export function DeleteButton({
  id,
  extra,
  action: serverAction,
  label,
  confirmText,
}: {
  id: string;
  extra?: Record<string, string>;
  action: (prev: FormState, fd: FormData) => Promise<FormState>;
  label: string;
  confirmText: string;
}) {
  const [state, action] = useActionState(serverAction, IDLE);
  const [armed, setArmed] = useState(false);
  return (
    <form key={state.at ?? 'initial'} action={action} className="inline-form">
      <input type="hidden" name="id" value={id} />
      {Object.entries(extra ?? {}).map(([k, v]) => (
        <input key={k} type="hidden" name={k} value={v} />
      ))}
      {armed ? (
        <>
          <span>{confirmText}</span>
          <SubmitButton className="btn small danger">Yes, {label.toLowerCase()}</SubmitButton>
          <button type="button" className="btn small secondary" onClick={() => setArmed(false)}>
            Cancel
          </button>
        </>
      ) : (
        <button type="button" className="btn small danger" onClick={() => setArmed(true)}>
          {label}
        </button>
      )}
      <FormResult state={state} />
    </form>
  );
}

export function DeleteVipButton({ id }: { id: string }) {
  return <DeleteButton id={id} action={deleteVip} label="Delete VIP" confirmText="Delete this VIP?" />;
}
