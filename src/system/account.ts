/** A passwd entry, as the mediator (getpwuid via libuv) and the admin tools (getent) read it. */
export interface Account {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}
