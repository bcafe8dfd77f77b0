'use client';

import { useActionState } from 'react';
import {
  createBackend,
  createPool,
  deleteBackend,
  deletePool,
  updateBackend,
  updatePool,
} from '../../lib/actions';
import { IDLE, type FormState } from '../../lib/forms';
import { Field, FormResult, SelectField, SubmitButton, useResultToast } from '../ui';
import { DeleteButton } from './VipForms';

export interface ProbeValues {
  protocol: 'tcp' | 'http';
  port: number | null;
  path: string | null;
  intervalMs: number;
  timeoutMs: number;
  healthyThreshold: number;
  unhealthyThreshold: number;
}

export const PROBE_DEFAULTS: ProbeValues = {
  protocol: 'tcp',
  port: null,
  path: null,
  intervalMs: 5000,
  timeoutMs: 2000,
  healthyThreshold: 2,
  unhealthyThreshold: 3,
};

const STATES = [
  { value: 'active', label: 'active' },
  { value: 'draining', label: 'draining (no new flows)' },
  { value: 'disabled', label: 'disabled' },
];

function ProbeFields({ state, p }: { state: FormState; p: ProbeValues }) {
  return (
    <>
      <SelectField
        name="probe.protocol"
        label="Probe protocol"
        state={state}
        path="healthProbe.protocol"
        options={[
          { value: 'tcp', label: 'TCP connect' },
          { value: 'http', label: 'HTTP GET' },
        ]}
        defaultValue={p.protocol}
      />
      <Field
        name="probe.port"
        label="Probe port"
        state={state}
        path="healthProbe.port"
        defaultValue={p.port ?? ''}
        hint="Blank: each backend's own port."
        inputMode="numeric"
      />
      <Field
        name="probe.path"
        label="HTTP path"
        state={state}
        path="healthProbe.path"
        defaultValue={p.path ?? ''}
        placeholder="/"
        hint="HTTP probes only."
      />
      <Field
        name="probe.intervalMs"
        label="Interval (ms)"
        state={state}
        path="healthProbe.intervalMs"
        defaultValue={p.intervalMs}
        inputMode="numeric"
      />
      <Field
        name="probe.timeoutMs"
        label="Timeout (ms)"
        state={state}
        path="healthProbe.timeoutMs"
        defaultValue={p.timeoutMs}
        inputMode="numeric"
      />
      <Field
        name="probe.healthyThreshold"
        label="Healthy after (probes)"
        state={state}
        path="healthProbe.healthyThreshold"
        defaultValue={p.healthyThreshold}
        inputMode="numeric"
      />
      <Field
        name="probe.unhealthyThreshold"
        label="Unhealthy after (probes)"
        state={state}
        path="healthProbe.unhealthyThreshold"
        defaultValue={p.unhealthyThreshold}
        inputMode="numeric"
      />
    </>
  );
}

export function CreatePoolForm({ idem }: { idem: string }) {
  const [state, action] = useActionState(createPool, { ...IDLE, idem });
  return (
    <form key={state.at ?? 'initial'} action={action} className="form" aria-label="Create pool">
      <FormResult state={state} />
      <input type="hidden" name="idem" value={state.idem ?? idem} />
      <Field name="name" label="Name" state={state} required placeholder="web" />
      <ProbeFields state={state} p={PROBE_DEFAULTS} />
      <div className="actions full">
        <SubmitButton>Create pool</SubmitButton>
      </div>
    </form>
  );
}

export function EditPoolForm({
  id,
  name,
  probe,
  etag,
}: {
  id: string;
  name: string;
  probe: ProbeValues;
  etag: string;
}) {
  const [state, action] = useActionState(updatePool, IDLE);
  return (
    <form key={state.at ?? 'initial'} action={action} className="form" aria-label="Edit pool">
      <FormResult
        state={state}
        conflictHint={
          <button type="button" className="btn small secondary" onClick={() => window.location.reload()}>
            Reload
          </button>
        }
      />
      <input type="hidden" name="id" value={id} />
      <input type="hidden" name="etag" value={etag} />
      <Field name="name" label="Name" state={state} defaultValue={name} required />
      <ProbeFields state={state} p={probe} />
      <div className="actions full">
        <SubmitButton>Save pool</SubmitButton>
      </div>
    </form>
  );
}

export function DeletePoolButton({ id }: { id: string }) {
  return <DeleteButton id={id} action={deletePool} label="Delete pool" confirmText="Delete this pool?" />;
}

export function AddBackendForm({ poolId, idem }: { poolId: string; idem: string }) {
  const [state, action] = useActionState(createBackend, { ...IDLE, idem });
  return (
    <form key={state.at ?? 'initial'} action={action} className="form" aria-label="Add backend">
      <FormResult state={state} />
      <input type="hidden" name="poolId" value={poolId} />
      <input type="hidden" name="idem" value={state.idem ?? idem} />
      <Field name="address" label="Address (IPv4)" state={state} placeholder="10.0.1.11" required />
      <Field name="port" label="Port" state={state} inputMode="numeric" placeholder="8080" required />
      <Field name="weight" label="Weight (0-1000)" state={state} defaultValue={100} inputMode="numeric" />
      <SelectField name="state" label="State" state={state} options={STATES} defaultValue="active" />
      <div className="actions full">
        <SubmitButton>Add backend</SubmitButton>
      </div>
    </form>
  );
}

export interface BackendValues {
  id: string;
  poolId: string;
  address: string;
  port: number;
  weight: number;
  state: 'active' | 'draining' | 'disabled';
  version: number;
}

/** One backend row's weight and state, saved together. */
export function BackendRowForm({ b }: { b: BackendValues }) {
  const [state, action] = useActionState(updateBackend, IDLE);
  useResultToast(state);
  const label = `${b.address}:${b.port}`;
  return (
    <form
      key={state.at ?? 'initial'}
      action={action}
      className="inline-form"
      aria-label={`Edit backend ${label}`}
    >
      <input type="hidden" name="poolId" value={b.poolId} />
      <input type="hidden" name="id" value={b.id} />
      <input type="hidden" name="version" value={b.version} />
      <input
        name="weight"
        type="number"
        defaultValue={b.weight}
        aria-label={`Weight of ${label}`}
        aria-invalid={state.fields?.weight ? true : undefined}
      />
      <select name="state" defaultValue={b.state} aria-label={`State of ${label}`}>
        {STATES.map((s) => (
          <option key={s.value} value={s.value}>
            {s.value}
          </option>
        ))}
      </select>
      <SubmitButton className="btn small secondary">Save</SubmitButton>
      {state.status === 'error' ? (
        <span className="error" style={{ color: 'var(--danger)' }} role="alert">
          {state.fields?.weight ?? state.fields?.state ?? state.message}
        </span>
      ) : null}
    </form>
  );
}

export function RemoveBackendButton({ poolId, id }: { poolId: string; id: string }) {
  return (
    <DeleteButton
      id={id}
      extra={{ poolId }}
      action={deleteBackend}
      label="Remove"
      confirmText="Remove this backend?"
    />
  );
}
