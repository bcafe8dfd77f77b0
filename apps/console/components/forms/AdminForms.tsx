'use client';

import { useActionState } from 'react';
import {
  addMember,
  createApiKey,
  createJoinToken,
  removeMember,
  revokeAgent,
  revokeApiKey,
  rotateBypassKey,
  updateMember,
} from '../../lib/actions';
import { IDLE } from '../../lib/forms';
import { CopyButton, Field, FormResult, SecretOnce, SelectField, SubmitButton, useResultToast } from '../ui';
import { DeleteButton } from './VipForms';

const ROLES = [
  { value: 'viewer', label: 'viewer (read only)' },
  { value: 'operator', label: 'operator (VIPs, pools, backends)' },
  { value: 'admin', label: 'admin (also members, keys, agents)' },
  { value: 'owner', label: 'owner' },
];

export function CreateApiKeyForm({ idem }: { idem: string }) {
  const [state, action] = useActionState(createApiKey, { ...IDLE, idem });
  return (
    <>
      {state.secret ? <SecretOnce title="Your new API key." secret={state.secret} /> : null}
      <form key={state.at ?? 'initial'} action={action} className="form" aria-label="Create API key">
        <FormResult state={state} />
        <input type="hidden" name="idem" value={state.idem ?? idem} />
        <Field name="name" label="Name" state={state} placeholder="terraform-ci" required />
        <SelectField name="role" label="Role" state={state} options={ROLES} defaultValue="operator" />
        <Field name="expiresAt" label="Expires (optional)" type="date" state={state} />
        <div className="actions full">
          <SubmitButton>Create API key</SubmitButton>
        </div>
      </form>
    </>
  );
}

export function RevokeApiKeyButton({ id }: { id: string }) {
  return <DeleteButton id={id} action={revokeApiKey} label="Revoke" confirmText="Revoke this key?" />;
}

export function RevokeAgentButton({ id, name }: { id: string; name: string }) {
  return (
    <DeleteButton
      id={id}
      action={revokeAgent}
      label="Revoke"
      confirmText={`Revoke ${name}? It stops receiving config.`}
    />
  );
}

export function RotateBypassKeyForm() {
  const [state, action] = useActionState(rotateBypassKey, IDLE);
  return (
    <form key={state.at ?? 'initial'} action={action} className="form" aria-label="Rotate redirect key">
      <FormResult state={state} />
      <div className="actions full">
        <SubmitButton>Rotate redirect key</SubmitButton>
      </div>
    </form>
  );
}

export function AddMemberForm() {
  const [state, action] = useActionState(addMember, IDLE);
  return (
    <form key={state.at ?? 'initial'} action={action} className="form" aria-label="Add member">
      <FormResult state={state} />
      <Field name="email" label="Email of an existing user" type="email" state={state} required />
      <SelectField name="role" label="Role" state={state} options={ROLES} defaultValue="viewer" />
      <div className="actions full">
        <SubmitButton>Add member</SubmitButton>
      </div>
    </form>
  );
}

export function MemberRoleForm({
  id,
  role,
  version,
  email,
}: {
  id: string;
  role: string;
  version: number;
  email: string;
}) {
  const [state, action] = useActionState(updateMember, IDLE);
  useResultToast(state);
  return (
    <form key={state.at ?? 'initial'} action={action} className="inline-form" aria-label={`Role of ${email}`}>
      <input type="hidden" name="id" value={id} />
      <input type="hidden" name="version" value={version} />
      <select name="role" defaultValue={role} aria-label={`Role of ${email}`}>
        {ROLES.map((r) => (
          <option key={r.value} value={r.value}>
            {r.value}
          </option>
        ))}
      </select>
      <SubmitButton className="btn small secondary">Save</SubmitButton>
      {state.status === 'error' ? (
        <span style={{ color: 'var(--danger)' }} role="alert">
          {state.message}
        </span>
      ) : null}
    </form>
  );
}

export function RemoveMemberButton({ id }: { id: string }) {
  return <DeleteButton id={id} action={removeMember} label="Remove" confirmText="Remove this member?" />;
}

/** Creates a join token and shows it once, with the install command when the installer exists. */
export function AddAgentForm({ idem, installTemplate }: { idem: string; installTemplate: string }) {
  const [state, action] = useActionState(createJoinToken, { ...IDLE, idem });
  const command = state.secret ? installTemplate.replaceAll('{token}', state.secret) : undefined;
  return (
    <>
      {state.secret ? <SecretOnce title="Join token created." secret={state.secret} /> : null}
      {command ? (
        <div className="full" data-testid="install-one-liner" style={{ marginBottom: 12 }}>
          <p className="muted" style={{ margin: '8px 0' }}>
            On the new host (Linux, as root) run this: it installs the agent as a systemd service, which
            enrolls with the token. Re-running it upgrades the agent;{' '}
            <span className="mono">--uninstall</span> removes it.
          </p>
          <div className="secret">
            <code data-testid="install-command">{command}</code>
            <CopyButton text={command} label="Copy command" />
          </div>
        </div>
      ) : null}
      <form key={state.at ?? 'initial'} action={action} className="form" aria-label="Add agent">
        <FormResult state={state} />
        <input type="hidden" name="idem" value={state.idem ?? idem} />
        <Field name="name" label="Token name" state={state} placeholder="web-hosts" required />
        <SelectField
          name="role"
          label="Agent role"
          state={state}
          options={[
            { value: 'host', label: 'host (client and backend side)' },
            { value: 'mux', label: 'mux' },
          ]}
          defaultValue="host"
        />
        <Field
          name="expiresInS"
          label="Valid for (seconds)"
          state={state}
          defaultValue={3600}
          inputMode="numeric"
        />
        <div className="actions full">
          <SubmitButton>Create join token</SubmitButton>
        </div>
      </form>
    </>
  );
}
