import { randomUUID } from 'node:crypto';
import Link from 'next/link';
import { redirect } from 'next/navigation';
import { CreateVipForm } from '../../../../components/forms/VipForms';
import { api, canOperate, getMe, read } from '../../../../lib/api';

export const metadata = { title: 'New VIP · Slipstream' };

export default async function NewVipPage() {
  const me = await getMe();
  if (!canOperate(me.role)) redirect('/vips');
  const pools = await read((await api()).GET('/v1/pools', { params: { query: { limit: 200 } } }));
  return (
    <>
      <div className="page-head">
        <div>
          <h1>New VIP</h1>
          <p>
            <Link href="/vips">← VIPs</Link>
          </p>
        </div>
      </div>
      <div className="card">
        {pools.items.length === 0 ? (
          <div className="empty">
            <strong>No pool to send traffic to</strong>A VIP needs a pool.{' '}
            <Link href="/pools">Create a pool</Link> first.
          </div>
        ) : (
          <CreateVipForm pools={pools.items.map((p) => ({ id: p.id, name: p.name }))} idem={randomUUID()} />
        )}
      </div>
    </>
  );
}
