'use client';

import { useActionState } from 'react';
import { login, signup } from '../../lib/actions';
import { IDLE } from '../../lib/forms';
import { Field, FormResult, SubmitButton } from '../ui';

export function LoginForm({ next }: { next?: string }) {
  const [state, action] = useActionState(login, IDLE);
  return (
    <form key={state.at ?? 'initial'} action={action} className="form" aria-label="Log in">
      <FormResult state={state} />
      <input type="hidden" name="next" value={next ?? '/'} />
      <Field name="email" label="Email" type="email" state={state} autoComplete="username" required />
      <Field
        name="password"
        label="Password"
        type="password"
        state={state}
        autoComplete="current-password"
        required
      />
      <details open={Boolean(state.values?.tenantId)}>
        <summary className="muted">Member of several organisations?</summary>
        <Field
          name="tenantId"
          label="Organisation id"
          state={state}
          hint="From Settings of that organisation. Blank: the first one you joined."
        />
      </details>
      <SubmitButton>Log in</SubmitButton>
    </form>
  );
}

export function SignupForm() {
  const [state, action] = useActionState(signup, IDLE);
  return (
    <form key={state.at ?? 'initial'} action={action} className="form" aria-label="Sign up">
      <FormResult state={state} />
      <Field name="tenantName" label="Organisation" state={state} placeholder="Acme" required />
      <Field name="email" label="Email" type="email" state={state} autoComplete="username" required />
      <Field
        name="password"
        label="Password"
        type="password"
        state={state}
        autoComplete="new-password"
        hint="At least 10 characters."
        required
      />
      <SubmitButton>Create account</SubmitButton>
    </form>
  );
}
