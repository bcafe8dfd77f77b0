import { OverviewLive } from '../../components/LivePanel';
import { api, getMe, read } from '../../lib/api';

export const metadata = { title: 'Overview · Slipstream' };

export default async function Overview() {
  const me = await getMe();
  const vips = await read((await api()).GET('/v1/vips', { params: { query: { limit: 200 } } }));
  return (
    <>
      <div className="page-head">
        <div>
          <h1>Overview</h1>
          <p>
            {me.tenantName} · config revision <span className="mono">{me.configRevision}</span>
          </p>
        </div>
      </div>
      <OverviewLive
        vips={vips.items.map((v) => ({
          id: v.id,
          name: v.name,
          address: v.address,
          protocol: v.protocol,
          port: v.port,
          bypassEnabled: v.bypass.enabled,
        }))}
      />
    </>
  );
}
