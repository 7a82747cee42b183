"""An independent numpy implementation of Echoes' remaining-useful-life recipe (docs/models.md),
shared with the Rust code by nothing but the description. On NASA C-MAPSS FD001 it prints test
RMSE 10.639 (RUL capped at 125) and PHM08 177.3, next to the Rust library's 10.64 (its ridge
penalty comes from its own cross-validation grid, 1e-4 against 1e-5 here).

    python3 docs/reference/rul_fd001.py [DATA_DIR]     (default ../shared/data/cmapss/; needs numpy)
"""
import itertools, os, sys
import numpy as np
D=os.path.join(sys.argv[1] if len(sys.argv)>1 else os.path.join(os.path.dirname(__file__),'../../../shared/data/cmapss'),'')
INFO=[2,3,4,7,8,9,11,12,13,14,15,17,20,21]
W=30; K=30; LAM=1e-5; CAP=125.0
tr=np.loadtxt(D+'train_FD001.txt'); te=np.loadtxt(D+'test_FD001.txt'); rul=np.loadtxt(D+'RUL_FD001.txt')
def units(a):
    out=[]; 
    for u in np.unique(a[:,0]): idx=np.nonzero(a[:,0]==u)[0]; out.append(idx)
    return out
def rul_target(a):
    y=np.empty(len(a))
    for idx in units(a): y[idx]=a[idx,1].max()-a[idx,1]
    return y
def features(a, w1, mu1, sd1, b1):
    S=a[:,[4+s for s in INFO]]
    h=((S-mu1)/sd1)@w1+b1                      # stage-1 health index (in RUL units)
    F=np.zeros((len(a),4))
    for idx in units(a):
        hu=h[idx]
        for i in range(len(idx)):
            lo=max(0,i-W+1); x=hu[lo:i+1]; t=np.arange(lo,i+1,dtype=float)
            n=len(x)
            if n>1:
                tc=t-t.mean(); slope=(tc@(x-x.mean()))/(tc@tc)
            else: slope=0.0
            level=x.mean()+slope*(i-t.mean())      # LS line evaluated at the current cycle
            base=hu[:min(K,i+1)].mean()              # mean of first min(K, seen) cycles
            F[idx[i]]=[level, slope, a[idx[i],1], level-base]
    return F
mons=[m for d in (1,2,3) for m in itertools.combinations_with_replacement(range(4),d)]
def expand(Z): return np.column_stack([np.prod(Z[:,list(m)],axis=1) for m in mons])
def fit(a):
    yr=rul_target(a); y=np.minimum(yr,CAP)
    S=a[:,[4+s for s in INFO]]; mu1=S.mean(0); sd1=S.std(0)
    Z1=(S-mu1)/sd1; m=yr<CAP                      # stage 1 rows: uncapped RUL < 125
    X=np.column_stack([np.ones(m.sum()),Z1[m]])
    c=np.linalg.lstsq(X,yr[m],rcond=None)[0]; b1,w1=c[0],c[1:]
    F=features(a,w1,mu1,sd1,b1); mu2=F.mean(0); sd2=F.std(0)
    E=expand((F-mu2)/sd2); mu3=E.mean(0); sd3=E.std(0); E=(E-mu3)/sd3
    Ec=E-E.mean(0); n,p=E.shape
    A=Ec.T@Ec+LAM*n*np.eye(p)
    beta=np.linalg.solve(A,Ec.T@(y-y.mean())); b0=y.mean()-E.mean(0)@beta
    info=dict(cond_stage1=np.linalg.cond(Z1[m]), cond_E=np.linalg.cond(Ec), cond_A=np.linalg.cond(A),
              cond_E_raw_noStd=np.linalg.cond(expand(F)))
    return dict(w1=w1,b1=b1,mu1=mu1,sd1=sd1,mu2=mu2,sd2=sd2,mu3=mu3,sd3=sd3,beta=beta,b0=b0,info=info)
def predict(M,a,rows=None):
    F=features(a,M['w1'],M['mu1'],M['sd1'],M['b1'])
    if rows is not None: F=F[rows]
    E=(expand((F-M['mu2'])/M['sd2'])-M['mu3'])/M['sd3']
    return np.clip(E@M['beta']+M['b0'],0,CAP), F
M=fit(tr)
last=np.array([idx[-1] for idx in units(te)])
p,F=predict(M,te,last)
def phm(d): return np.sum(np.where(d<0,np.exp(-d/13)-1,np.exp(d/10)-1))
yc=np.minimum(rul,CAP)
print('TEST capped: rmse %.3f phm %.1f | uncapped: rmse %.3f phm %.1f'%(np.sqrt(np.mean((p-yc)**2)),phm(p-yc),np.sqrt(np.mean((p-rul)**2)),phm(p-rul)))
print('MAE capped %.2f, mean bias %.2f'%(np.mean(np.abs(p-yc)),np.mean(p-yc)))
print({k:'%.3g'%v for k,v in M['info'].items()})
print('stage1 w', np.round(M['w1'],3), 'b1', round(M['b1'],3))
print('first 5 test preds', np.round(p[:5],3), 'features unit1 last', np.round(F[0],4))
# 5-fold grouped CV (unit perm seed 0) with this exact code
rng=np.random.RandomState(0); perm=rng.permutation(np.arange(1,101)); fold={u:i%5 for i,u in enumerate(perm)}
fo=np.array([fold[u] for u in tr[:,0]]); P=np.zeros(len(tr)); yr=rul_target(tr); y=np.minimum(yr,CAP)
for f in range(5):
    Mf=fit(tr[fo!=f]); P[fo==f]=predict(Mf,tr[fo==f])[0]
tl=(yr>=7)&(yr<=145)&(tr[:,1]>=31)
print('CV all %.3f  CV test-like %.3f'%(np.sqrt(np.mean((P-y)**2)),np.sqrt(np.mean((P[tl]-y[tl])**2))))
