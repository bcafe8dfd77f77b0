import { AddMemberForm, MemberRoleForm, RemoveMemberButton } from '../../../components/forms/AdminForms';
import { api, canAdmin, getMe, read } from '../../../lib/api';
import { fmtTime } from '../../../lib/format';

export const metadata = { title: 'Members · Slipstream' };

export default async function MembersPage() {
  const me = await getMe();
  const members = await read((await api()).GET('/v1/members', { params: { query: { limit: 200 } } }));
  const admin = canAdmin(me.role);
  return (
    <>
      <div className="page-head">
        <div>
          <h1>Members and roles</h1>
          <p>
            Viewers read only; operators change VIPs, pools and backends; admins also manage members, keys and
            agents.
          </p>
        </div>
      </div>
      <div className="card">
        <div className="table-wrap">
          <table data-testid="member-list">
            <thead>
              <tr>
                <th>Email</th>
                <th>Role</th>
                <th>Since</th>
                {admin ? <th /> : null}
              </tr>
            </thead>
            <tbody>
              {members.items.map((m) => {
                const self = m.userId === me.actor.id;
                return (
                  <tr key={m.id}>
                    <td>
                      {m.email} {self ? <span className="badge info">you</span> : null}
                    </td>
                    <td>
                      {admin && !self ? (
                        <MemberRoleForm id={m.id} role={m.role} version={m.version} email={m.email} />
                      ) : (
                        m.role
                      )}
                    </td>
                    <td>{fmtTime(m.createdAt)}</td>
                    {admin ? <td>{self ? null : <RemoveMemberButton id={m.id} />}</td> : null}
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      </div>
      {admin ? (
        <div className="card">
          <h2>Add member</h2>
          <AddMemberForm />
        </div>
      ) : null}
    </>
  );
}
